#!/usr/bin/env node
/**
 * The `consul-connect-native` executable (package.json `bin` → dist/cli/main.js). Everything happens in
 * run.ts; this file only hands it the process's arguments, streams and environment, and sets the exit code
 * without `process.exit`, so buffered output to a pipe is never cut short.
 */
import { run } from './run.js'

// `… --json | head -1` closes the pipe early: that is the reader's choice, not a failure worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err
})

process.exitCode = await run(process.argv.slice(2))
