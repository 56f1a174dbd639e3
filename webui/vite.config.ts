// Vite builds the console into dist/, which the engine embeds (webui.go).
// `npm run dev` serves it with hot reload and proxies the engine's routes to
// WARREN_URL (default http://127.0.0.1:8080, what `make run` starts).
import { writeFileSync } from 'node:fs'
import type { Plugin } from 'vite'
import { defineConfig } from 'vitest/config'

const engine = process.env.WARREN_URL ?? 'http://127.0.0.1:8080'

// dist/README.md is the one committed file of dist/ (go:embed needs the
// directory to exist in a fresh clone); the build empties dist/, so put it back.
function keepDistReadme(): Plugin {
  return {
    name: 'warren-keep-dist-readme',
    apply: 'build',
    closeBundle() {
      writeFileSync(new URL('./dist/README.md', import.meta.url),
        '# dist\n\n`npm run build` writes the console here; only this file is committed.\n' +
        'The engine embeds this directory (../webui.go).\n')
    },
  }
}

export default defineConfig({
  plugins: [keepDistReadme()],
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': { target: engine, ws: true, changeOrigin: false },
      '/idp': engine,
      '/setup': engine,
      '/healthz': engine,
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})
