import { describe, expect, it } from 'vitest';
import { HolidayCalendar } from '../../src/calendar/holiday-calendar.js';
import { SeasonalBaseline, slotOf } from '../../src/calendar/seasonal-baseline.js';

const HOUR = 3_600_000;
// Monday 2026-11-02 00:00 UTC.
const MONDAY = Date.UTC(2026, 10, 2);

describe('HolidayCalendar', () => {
  it('knows national holidays in the country time zone and configured quiet days', () => {
    const us = new HolidayCalendar({ country: 'US', extraDates: ['2026-11-05'] });
    expect(us.holidayAt(Date.parse('2026-07-04T15:00:00Z'))).toBe('Independence Day');
    expect(us.isHoliday(Date.parse('2026-07-06T15:00:00Z'))).toBe(false);
    // Thanksgiving: 03:00 UTC on the 26th is still the 25th in New York.
    expect(us.isHoliday(Date.parse('2026-11-26T15:00:00Z'))).toBe(true);
    expect(us.isHoliday(Date.parse('2026-11-26T03:00:00Z'))).toBe(false);
    expect(us.isHoliday(Date.parse('2026-11-05T12:00:00Z'))).toBe(true);
    expect(new HolidayCalendar().isHoliday(Date.parse('2026-12-25T12:00:00Z'))).toBe(false);
  });

  it('rejects unknown countries and malformed dates', () => {
    expect(() => new HolidayCalendar({ country: 'XX' })).toThrow(/unknown holiday country/);
    expect(() => new HolidayCalendar({ extraDates: ['5 Nov'] })).toThrow(/YYYY-MM-DD/);
  });
});

describe('SeasonalBaseline', () => {
  it('maps instants to hours of the week starting Monday 00:00 UTC', () => {
    expect(slotOf(MONDAY)).toBe(0);
    expect(slotOf(MONDAY + 25 * HOUR)).toBe(25);
    expect(slotOf(MONDAY - HOUR)).toBe(167);
  });

  it('learns busy weekday hours and quiet nights, and judges silences by them', () => {
    const b = new SeasonalBaseline();
    // Two weeks: 1,000 records per hour from 08:00 to 18:00 UTC on weekdays, nothing otherwise.
    for (let h = 0; h < 2 * 168; h++) {
      const t = MONDAY + h * HOUR;
      const busy = h % 24 >= 8 && h % 24 < 18 && Math.floor(h / 24) % 7 < 5;
      b.observe(t + 1000, busy ? 1000 : 0);
    }
    b.advance(MONDAY + 2 * 168 * HOUR);
    expect(b.warmingUp).toBe(false);
    const week3 = MONDAY + 2 * 168 * HOUR;
    expect(b.expectedPerHour(week3 + 9 * HOUR)).toBe(1000);
    expect(b.expectedPerHour(week3 + 2 * HOUR)).toBe(0);
    // Ten minutes of silence at 10:00 on a Monday: ~167 records expected, unexpected.
    expect(b.judgeSilence(week3 + 10 * HOUR, week3 + 10 * HOUR + 600_000).unexpected).toBe(true);
    // A whole night of silence: expected.
    const night = b.judgeSilence(week3 - 6 * HOUR, week3 + 7 * HOUR);
    expect(night).toMatchObject({ expected: 0, unexpected: false });
    // The same Monday morning silence on a holiday is not suspicious.
    const holiday = { isHoliday: () => true };
    expect(b.judgeSilence(week3 + 10 * HOUR, week3 + 12 * HOUR, holiday).unexpected).toBe(false);
  });

  it('does not page on hours it has not learnt, and survives a round trip through JSON', () => {
    const b = new SeasonalBaseline();
    b.observe(MONDAY, 500);
    b.advance(MONDAY + 2 * HOUR);
    expect(b.warmingUp).toBe(true);
    expect(b.judgeSilence(MONDAY + 5 * HOUR, MONDAY + 9 * HOUR).expected).toBe(0);
    const copy = new SeasonalBaseline(JSON.parse(JSON.stringify(b.toJSON())));
    expect(copy.expectedPerHour(MONDAY)).toBe(500);
    expect(copy.expectedPerHour(MONDAY + HOUR)).toBe(0);
  });
});
