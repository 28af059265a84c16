// Parse and validate AsyncAPI documents with the official parser (@asyncapi/parser,
// the one the AsyncAPI CLI and Studio use). For each path argument, prints one JSON
// line {file, parsed, diagnostics: [{severity, code, path, message}]}; severity 0 is
// an error. Exits 0; the caller (tests/test_asyncapi_parser.py) judges.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const parser = new Parser();
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"), {
    source: file,
  });
  const found = diagnostics.map((d) => ({
    severity: d.severity,
    code: d.code,
    path: d.path,
    message: d.message,
  }));
  console.log(JSON.stringify({ file, parsed: document !== undefined, diagnostics: found }));
}
