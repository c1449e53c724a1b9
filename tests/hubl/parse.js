// Checks HubL files with HubSpot's own HubL tooling (@hubspot/prettier-plugin-hubl)
// and prints one JSON object: {"FILE": null | "error message", ...}.
// Usage: node parse.js [--format] FILE...   (one process for many files)
//   default   the plugin's HubL parser (parsers.hubl.parse, as prettier calls it): fast
//   --format  also the whole formatter (its pattern-based preprocessing, then that
//             parser), about 150 ms a file
"use strict";
const fs = require("fs");
const plugin = require("@hubspot/prettier-plugin-hubl");

const args = process.argv.slice(2);
const format = args[0] === "--format";
const prettier = format ? require("prettier") : null;
const result = {};
for (const file of format ? args.slice(1) : args) {
  const text = fs.readFileSync(file, "utf8");
  try {
    plugin.parsers.hubl.parse(text, {}, {});
    if (format) {
      try {
        prettier.format(text, { parser: "hubl", plugins: [plugin] });
      } catch (e) {
        throw new Error(`formatter: ${(e && e.message) || e}`);
      }
    }
    result[file] = null;
  } catch (e) {
    result[file] = String((e && e.message) || e);
  }
}
process.stdout.write(JSON.stringify(result) + "\n");
