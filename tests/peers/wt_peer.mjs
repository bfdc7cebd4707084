#!/usr/bin/env node
// WebTorrent reference peer for peerflow's interop tests (TCP only).
//
//   node wt_peer.mjs seed|get (--torrent T | --magnet M) --dir D [options]
//
// Options (same meaning as lt_peer.py):
//   --port P           listen port (default 0 = any)
//   --bind ADDR        listen address (default 127.0.0.1)
//   --peer HOST:PORT   dial this peer (repeatable; re-added while unconnected)
//   --announce URL     add a tracker (repeatable)
//   --no-tracker       no trackers at all (default: the torrent's own + --announce)
//   --tracker-only     no --peer allowed, PEX off
//   --webseed-ok       keep web seeds (default: off)
//   --secure N         0 plaintext (default), 1 MSE/PE with plaintext fallback
//   --timeout S        get: exit 3 after S s; seed: exit 0 after S s
//   --ready-file F     written with the port once listening (get) / seeding (seed)
//   --stats-file F     JSON every second and at exit:
//                      {"uploaded","downloaded","peers","have","pieces","complete",...}
//   -v                 log wires and warnings to stderr
//
// Prints `listening on port N` on stdout. `get` prints `complete` and exits 0
// after every piece is verified and the store is closed (data on disk).
// The webtorrent package is found in $PF_NODE_DIR (default <repo>/.pf-node),
// installed by scripts/install-node-peers.sh.
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const nodeDir = process.env.PF_NODE_DIR || path.resolve(here, '..', '..', '.pf-node')

function die (msg, code = 2) {
  process.stderr.write(`wt_peer: ${msg}\n`)
  process.exit(code)
}

function parseArgs (argv) {
  const a = {
    mode: argv[0], peer: [], announce: [], port: 0, bind: '127.0.0.1', timeout: 0,
    secure: 0, noTracker: false, trackerOnly: false, webseedOk: false, verbose: false
  }
  if (a.mode !== 'seed' && a.mode !== 'get') die('usage: wt_peer.mjs seed|get (--torrent T | --magnet M) --dir D [options]')
  for (let i = 1; i < argv.length; i++) {
    const k = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) die(`${k} needs a value`)
      return argv[++i]
    }
    switch (k) {
      case '--torrent': a.torrent = val(); break
      case '--magnet': a.magnet = val(); break
      case '--dir': a.dir = val(); break
      case '--port': a.port = Number(val()); break
      case '--bind': a.bind = val(); break
      case '--peer': a.peer.push(val()); break
      case '--announce': a.announce.push(val()); break
      case '--timeout': a.timeout = Number(val()); break
      case '--ready-file': a.readyFile = val(); break
      case '--stats-file': a.statsFile = val(); break
      case '--secure': a.secure = Number(val()); break
      case '--no-tracker': a.noTracker = true; break
      case '--tracker-only': a.trackerOnly = true; break
      case '--webseed-ok': a.webseedOk = true; break
      case '-v': case '--verbose': a.verbose = true; break
      default: die(`unknown argument: ${k}`)
    }
  }
  if (!a.torrent === !a.magnet) die('exactly one of --torrent / --magnet')
  if (!a.dir) die('--dir is required')
  if (a.trackerOnly && a.peer.length) die('--tracker-only and --peer are exclusive')
  return a
}

const args = parseArgs(process.argv.slice(2))
const t0 = performance.now()
const log = (s) => process.stdout.write(s + '\n')
const warn = (s) => process.stderr.write(`wt_peer: ${s}\n`)

// WebTorrent listens on every interface; the tests want loopback only.
// Its connection pool calls server.listen(port, cb): add the host.
const origListen = net.Server.prototype.listen
net.Server.prototype.listen = function (...la) {
  if (typeof la[0] === 'number' && (la.length === 1 || typeof la[1] === 'function')) {
    la.splice(1, 0, args.bind)
  }
  return origListen.apply(this, la)
}

const wtEntry = path.join(nodeDir, 'node_modules', 'webtorrent', 'index.js')
if (!fs.existsSync(wtEntry)) die(`webtorrent not installed in ${nodeDir} (run scripts/install-node-peers.sh)`, 1)
const { default: WebTorrent } = await import(pathToFileURL(wtEntry).href)

fs.mkdirSync(args.dir, { recursive: true })
const client = new WebTorrent({
  dht: false,
  lsd: false,
  natUpnp: false,
  natPmp: false,
  utp: false,
  utPex: !args.trackerOnly,
  webSeeds: args.webseedOk,
  tracker: args.noTracker ? false : {},
  torrentPort: args.port,
  secure: args.secure
})

let rc = null
let torrent = null
let up = 0
let down = 0

function writeAtomic (file, data) {
  if (!file) return
  fs.writeFileSync(file + '.tmp', data)
  fs.renameSync(file + '.tmp', file)
}

function stats () {
  if (!torrent) return
  up = Math.max(up, torrent.uploaded || 0)
  down = Math.max(down, torrent.received || 0)
  if (!args.statsFile) return
  let have = 0
  const n = torrent.pieces ? torrent.pieces.length : 0
  if (torrent.bitfield) for (let i = 0; i < n; i++) if (torrent.bitfield.get(i)) have++
  writeAtomic(args.statsFile, JSON.stringify({
    uploaded: up,
    downloaded: down, // bytes received on the wire (WebTorrent has no payload-only counter)
    verified: torrent.downloaded || 0, // bytes of verified pieces, incl. those found on disk
    peers: torrent.numPeers || 0,
    have,
    pieces: n,
    complete: !!torrent.done,
    port: client.address() ? client.address().port : 0,
    elapsed: Math.round(performance.now() - t0) / 1000
  }) + '\n')
}

function finish (code) {
  if (rc !== null) return
  rc = code
  stats()
  // destroy() closes the chunk stores: the file is complete on disk after it
  client.destroy((err) => {
    if (err) warn(`destroy: ${err.message || err}`)
    process.exit(rc)
  })
  setTimeout(() => process.exit(rc), 5000).unref()
}

client.on('error', (err) => { warn(`error: ${err.message || err}`); finish(1) })
client.on('listening', () => {
  const port = client.address().port
  log(`listening on port ${port}`)
  if (args.mode === 'get') writeAtomic(args.readyFile, `${port}\n`)
})
process.on('SIGTERM', () => finish(args.mode === 'seed' ? 0 : 130))
process.on('SIGINT', () => finish(args.mode === 'seed' ? 0 : 130))

const opts = { path: args.dir }
if (args.announce.length) opts.announce = args.announce
const id = args.torrent ? fs.readFileSync(args.torrent) : args.magnet

torrent = client.add(id, opts)
if (!args.webseedOk && torrent.urlList) torrent.urlList = []
torrent.on('error', (err) => { warn(`torrent error: ${err.message || err}`); finish(1) })
torrent.on('warning', (err) => { if (args.verbose) warn(`warning: ${err.message || err}`) })
torrent.on('wire', (wire, addr) => { if (args.verbose) warn(`wire ${addr}`) })
torrent.on('metadata', () => { if (args.magnet) log('metadata received') })

// Peers given on the command line: add when the info-hash is known and
// re-add while none is connected (WebTorrent gives up after 3 retries).
function dial () {
  if (!torrent.infoHash || torrent.destroyed) return
  for (const p of args.peer) {
    if (torrent._peers && torrent._peers[p]) continue
    try { torrent.addPeer(p) } catch (e) { warn(`addPeer ${p}: ${e.message}`) }
  }
}
if (torrent.infoHash) dial(); else torrent.once('infoHash', dial)
setInterval(() => {
  if (args.peer.length && torrent.numPeers === 0 && !(args.mode === 'get' && torrent.done)) dial()
}, 1000).unref()

setInterval(stats, 1000)
torrent.on('done', () => {
  if (args.mode === 'seed') {
    log('seeding')
    writeAtomic(args.readyFile, `${client.address().port}\n`)
  } else {
    log(`downloaded ${torrent.downloaded} bytes in ${((performance.now() - t0) / 1000).toFixed(2)} s`)
    log('complete')
    finish(0)
  }
})
torrent.on('ready', () => {
  if (args.mode === 'seed' && !torrent.done && args.verbose) {
    warn(`data incomplete: ${torrent.progress * 100}%`)
  }
})

if (args.timeout > 0) {
  setTimeout(() => {
    if (args.mode === 'get') {
      const n = torrent.pieces ? torrent.pieces.length : 0
      warn(`timeout after ${args.timeout}s: progress ${(torrent.progress * 100).toFixed(1)}% of ${n} pieces, ${torrent.numPeers} peers`)
      finish(3)
    } else {
      finish(0)
    }
  }, args.timeout * 1000).unref()
}
