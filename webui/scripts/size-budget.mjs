// The bundle's size budget, checked by `make test`: the JavaScript a browser
// loads before the console is usable (the entry chunk and its static
// imports, as index.html references them) must stay under 400 KB gzipped.
// xterm.js and the players are loaded lazily and are not counted; the total
// is printed for the record.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

const BUDGET = 400 * 1024
const dist = new URL('../dist/', import.meta.url).pathname
const gz = (file) => gzipSync(readFileSync(join(dist, file)), { level: 9 }).length

let html
try {
  html = readFileSync(join(dist, 'index.html'), 'utf8')
} catch {
  console.error('size budget: dist/index.html is missing; run npm run build first')
  process.exit(1)
}
// Scripts and modulepreloads referenced by index.html are the initial load.
const initial = [...html.matchAll(/<(?:script|link)[^>]+(?:src|href)="\/?(assets\/[^"]+\.js)"/g)].map((m) => m[1])
if (initial.length === 0) {
  console.error('size budget: index.html references no script')
  process.exit(1)
}
const initialBytes = initial.reduce((n, f) => n + gz(f), 0)
const all = readdirSync(join(dist, 'assets')).filter((f) => f.endsWith('.js'))
const allBytes = all.reduce((n, f) => n + gz(join('assets', f)), 0)
const kb = (n) => `${(n / 1024).toFixed(1)} KB`
console.log(`size budget: initial JS ${kb(initialBytes)} gzip (${initial.join(', ')}); budget ${kb(BUDGET)}`)
console.log(`size budget: all JS ${kb(allBytes)} gzip in ${all.length} chunks (the rest loads lazily)`)
if (initialBytes > BUDGET) {
  console.error(`size budget: FAILED: initial JS is ${kb(initialBytes)} gzip, over ${kb(BUDGET)}`)
  process.exit(1)
}
