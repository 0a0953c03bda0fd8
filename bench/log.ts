// The coordinator's progress lines on stdout, each stamped with the UTC time of day.

export function log(line: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}
