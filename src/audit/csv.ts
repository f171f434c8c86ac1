/**
 * RFC 4180 CSV: a field is quoted when it holds a comma, a quote, CR or LF (or starts or ends with a
 * space), quotes inside are doubled, rows end with CRLF. The reader accepts exactly that, with quoted
 * fields spanning lines, and reads from a stream of text chunks.
 */

export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvRow(values: readonly string[]): string {
  return `${values.map(csvField).join(",")}\r\n`;
}

/** Parses CSV text chunks into rows. Throws on a quote in an unquoted field or an unterminated quote. */
export async function* parseCsv(chunks: AsyncIterable<string> | Iterable<string>): AsyncIterable<string[]> {
  let row: string[] = [];
  let field = "";
  let quoted = false; // inside a quoted field
  let wasQuoted = false; // the current field was quoted (so closing quote seen)
  let pendingQuote = false; // saw a quote inside a quoted field: either an escaped quote or the end
  let line = 1;
  let any = false;
  for await (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as string;
      any = true;
      if (pendingQuote) {
        pendingQuote = false;
        if (c === '"') {
          field += '"';
          continue;
        }
        quoted = false;
        wasQuoted = true;
      }
      if (quoted) {
        if (c === '"') pendingQuote = true;
        else {
          if (c === "\n") line++;
          field += c;
        }
        continue;
      }
      if (c === '"') {
        if (field.length || wasQuoted) throw new Error(`CSV line ${line}: quote inside an unquoted field`);
        quoted = true;
      } else if (c === ",") {
        row.push(field);
        field = "";
        wasQuoted = false;
      } else if (c === "\n") {
        row.push(field.endsWith("\r") && !wasQuoted ? field.slice(0, -1) : field);
        yield row;
        row = [];
        field = "";
        wasQuoted = false;
        line++;
      } else if (c === "\r" && wasQuoted) {
        // CR after a closing quote: the LF that follows ends the row.
      } else {
        if (wasQuoted) throw new Error(`CSV line ${line}: text after a closing quote`);
        field += c;
      }
    }
  }
  if (pendingQuote) {
    quoted = false;
    wasQuoted = true;
  }
  if (quoted) throw new Error(`CSV line ${line}: unterminated quoted field`);
  if (any && (field.length || wasQuoted || row.length)) {
    row.push(field);
    yield row;
  }
}
