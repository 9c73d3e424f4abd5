import Holidays from 'date-holidays';

/** Holiday types that usually silence a business's traffic (not observances or optional days). */
const QUIET_TYPES = ['public', 'bank'] as const;

export interface HolidayCalendarOptions {
  /** ISO 3166-1 country code, e.g. `US`, `DE`; none means no public holidays. */
  country?: string;
  /** State or province code within the country, e.g. `BE` for Berlin. */
  state?: string;
  /** Extra quiet days, `YYYY-MM-DD` in the calendar's time zone (company shutdowns, tests). */
  extraDates?: readonly string[];
}

/**
 * Knows which instants fall on a holiday where the data comes from, so that silence on a national
 * holiday is not taken for an outage. Public holidays come from `date-holidays`, in the country's own
 * time zone; extra dates are whole days in that same zone (UTC when no country is set).
 */
export class HolidayCalendar {
  private readonly holidays: Holidays | null;
  private readonly extra: ReadonlySet<string>;
  private readonly timeZone: string;

  constructor(opts: HolidayCalendarOptions = {}) {
    this.holidays = opts.country
      ? new Holidays(opts.country, opts.state ?? '', { types: [...QUIET_TYPES] })
      : null;
    if (opts.country && !this.holidays?.getCountries()[opts.country.toUpperCase()])
      throw new Error(`unknown holiday country '${opts.country}'`);
    this.timeZone = this.holidays?.getTimezones()[0] ?? 'UTC';
    for (const d of opts.extraDates ?? [])
      if (!/^\d{4}-\d{2}-\d{2}$/.test(d)) throw new Error(`extra holiday '${d}' is not YYYY-MM-DD`);
    this.extra = new Set(opts.extraDates ?? []);
  }

  /** The holiday's name when `at` falls on one, else null. */
  holidayAt(at: number | Date): string | null {
    const date = typeof at === 'number' ? new Date(at) : at;
    if (this.extra.has(this.localDate(date))) return 'configured quiet day';
    const found = this.holidays?.isHoliday(date);
    return found && found.length > 0 ? found[0]!.name : null;
  }

  isHoliday(at: number | Date): boolean {
    return this.holidayAt(at) !== null;
  }

  private localDate(date: Date): string {
    // en-CA formats as YYYY-MM-DD.
    return date.toLocaleDateString('en-CA', { timeZone: this.timeZone });
  }
}
