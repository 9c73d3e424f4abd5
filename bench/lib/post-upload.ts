/**
 * A file upload from a process of its own: POSTs `file` to the dataset as a streamed `text/csv` body
 * and prints the 201 report as one JSON line. Benchmarks that time requests while an upload arrives
 * send it apart (`postUploadApart`), so streaming the body does not stall the clock of their client:
 * in one stats-latency run, the process doing both stalled up to 24 ms while the body went out.
 *
 * Run: node --import tsx bench/lib/post-upload.ts <server url> <authorization header> <dataset> <file>
 */
import { postUpload } from './upload-client.js';

const [url, authorization, dataset, file] = process.argv.slice(2);
if (url === undefined || authorization === undefined || dataset === undefined || file === undefined) {
  process.stderr.write('usage: post-upload <server url> <authorization header> <dataset> <file>\n');
  process.exit(2);
}
const posted = await postUpload(url, { authorization }, dataset, file);
process.stdout.write(`${JSON.stringify(posted.report)}\n`);
