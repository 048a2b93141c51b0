// Allure Report 3 configuration for archconform (npm `allure`, pinned in package.json).
// `python -m archconform.report generate` (or `pytest features/ --allure-report`) runs
// `allure generate <results> -o <report> --config allurerc.mjs` and passes the paths below in
// ARCHCONFORM_* variables; the defaults fit a plain `npx allure generate` from the checkout.
import { existsSync, readFileSync } from "node:fs";
import { defineConfig } from "allure";

const results = process.env.ARCHCONFORM_ALLURE_RESULTS ?? "./reports/allure-results";
const categoriesFile = process.env.ARCHCONFORM_CATEGORIES ?? `${results}/categories.json`;

// The categories the pytest plugin writes to categories.json (Allure 2 format). The default
// "awesome" report of Allure 3 takes categories from this config, not from the results, so the
// same file is loaded here; Allure 3 accepts the Allure 2 keys (matchedStatuses, messageRegex).
const categories = existsSync(categoriesFile)
  ? JSON.parse(readFileSync(categoriesFile, "utf8")).map(({ name, matchedStatuses, messageRegex, traceRegex }) => ({
      name,
      ...(matchedStatuses ? { matchedStatuses } : {}),
      ...(messageRegex ? { messageRegex } : {}),
      ...(traceRegex ? { traceRegex } : {}),
    }))
  : undefined;

export default defineConfig({
  name: process.env.ARCHCONFORM_REPORT_NAME ?? "archconform: architecture conformance",
  output: process.env.ARCHCONFORM_ALLURE_REPORT ?? "./reports/allure-report",
  // One JSON line per run; kept between nightly runs (CI restores it) so the report shows trends.
  historyPath: process.env.ARCHCONFORM_HISTORY ?? "./reports/history.jsonl",
  ...(categories ? { categories } : {}),
  plugins: {
    awesome: {
      options: {
        reportName: process.env.ARCHCONFORM_REPORT_NAME ?? "archconform: architecture conformance",
        // The tree: document (epic) > area (feature) > promise.
        groupBy: ["epic", "feature"],
        singleFile: false,
        reportLanguage: "en",
        theme: "light",
      },
    },
  },
});
