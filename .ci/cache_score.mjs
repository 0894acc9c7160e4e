// Scores an http-cache-tests run: node cache_score.mjs PACKAGE_DIR RESULTS.json [FLOOR_FILE]
// Counts required tests (kind "required" or unset) passed, and optional ("optimal") ones, the
// way the suite's own display does (a result of `true` passes); prints the failed required
// ids; exits 1 when fewer required tests pass than the floor file says.
import fs from 'fs'
import path from 'path'
import { pathToFileURL } from 'url'

const [pkg, resultsFile, floorFile] = process.argv.slice(2)
const load = async (p) => (await import(pathToFileURL(path.join(pkg, p)).href)).default
const suites = await load('tests/index.mjs')
suites.push(await load('tests/surrogate-control.mjs'))
const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'))

const count = { required: [0, 0], optional: [0, 0] }
const failed = []
for (const suite of suites) {
  for (const test of suite.tests) {
    if (test.browser_only) continue
    const kind = test.kind === undefined || test.kind === 'required' ? 'required'
      : test.kind === 'optimal' ? 'optional' : null
    if (kind === null) continue
    const pass = results[test.id] === true
    count[kind][1] += 1
    if (pass) count[kind][0] += 1
    else if (kind === 'required') failed.push(`${test.id}: ${JSON.stringify(results[test.id])}`)
  }
}
console.log(`required: ${count.required[0]} of ${count.required[1]} passed`)
console.log(`optional: ${count.optional[0]} of ${count.optional[1]} passed`)
if (process.env.CACHE_TESTS_VERBOSE) failed.forEach(f => console.log(`  failed: ${f}`))
if (floorFile) {
  const floor = parseInt(fs.readFileSync(floorFile, 'utf8').trim(), 10)
  if (count.required[0] < floor) {
    console.log(`below the floor: ${count.required[0]} < ${floor} (${floorFile})`)
    process.exit(1)
  }
  console.log(`floor ${floor}: ok`)
}
