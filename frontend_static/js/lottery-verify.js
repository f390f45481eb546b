// The draw furusato-lottery-1 recomputed in the browser with WebCrypto (docs/lottery.md):
// SHA-256 through crypto.subtle.digest, HMAC-SHA256 through crypto.subtle.importKey/sign.
// No DOM here: the verification page builds on Furusato.lotteryVerify.
//
//   const {record, listing} = await Furusato.lotteryVerify.load("", dropId);
//   const result = await Furusato.lotteryVerify.verify(record, listing, {rpcUrl, onProgress});
//   result.ok, result.checks ([{code, ok, detail}]), result.failure ({code, detail} or null),
//   result.notDrawn, result.chainChecked, result.rankOf(entryId) → {rank, quantity, outcome}
//
// It is a third implementation of the same text, beside the server's Python and
// scripts/verify_lottery.py; tests/browser/test_lottery_js.py checks that all agree.
// WebCrypto needs a secure context (https, or http on 127.0.0.1/localhost).
"use strict";
(function (root) {
  const ALGORITHM = "furusato-lottery-1";
  const HEX64 = /^[0-9a-f]{64}$/;
  const HEX32 = /^[0-9a-f]{32}$/;
  const RPC_HASH = /^0x[0-9a-f]{64}$/;
  const RPC_ADDRESS = /^0x[0-9a-f]{40}$/;
  const CHUNK = 4096; // HMACs in flight at once
  const ascii = new TextEncoder();
  const HEX_DIGITS = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

  function subtle() {
    if (!root.crypto || !root.crypto.subtle) {
      throw new Difference("webcrypto", "WebCrypto is not available (the page needs https or 127.0.0.1)");
    }
    return root.crypto.subtle;
  }

  class Difference extends Error {
    constructor(code, detail) {
      super(detail);
      this.code = code;
      this.detail = detail;
    }
  }

  // --- bytes and hashes ---------------------------------------------------------------

  function hexToBytes(hex) {
    if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) {
      throw new Difference("format", `not lower-case hex: ${JSON.stringify(hex)}`);
    }
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function bytesToHex(buffer) {
    const bytes = new Uint8Array(buffer);
    let out = "";
    for (let i = 0; i < bytes.length; i++) out += HEX_DIGITS[bytes[i]];
    return out;
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  async function sha256Hex(bytes) {
    return bytesToHex(await subtle().digest("SHA-256", bytes));
  }

  function pairOf(entry) {
    return Array.isArray(entry) ? [entry[0], entry[1]] : [entry.entry_id, entry.quantity];
  }

  function checkHex64(code, value) {
    if (typeof value !== "string" || !HEX64.test(value)) {
      throw new Difference(code, `not 64 lower-case hex digits: ${JSON.stringify(value)}`);
    }
    return value;
  }

  // --- the algorithm --------------------------------------------------------------------

  /** sha256(bytes.fromhex(server_seed)), hex. */
  async function seedCommitment(serverSeed) {
    return sha256Hex(hexToBytes(checkHex64("server_seed", serverSeed)));
  }

  /** The lines `${entry_id}:${quantity}`, sorted by entry_id (entries as objects or pairs). */
  function listLines(entries) {
    const lines = entries.map((e) => {
      const [id, quantity] = pairOf(e);
      return `${id}:${quantity}`;
    });
    // Ids are unique, 32 characters and ASCII: sorting the lines sorts by entry_id.
    lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return lines;
  }

  /** sha256(lines joined by "\n", plus a final "\n"): the empty list hashes "\n". */
  async function listHash(entries) {
    return sha256Hex(ascii.encode(listLines(entries).join("\n") + "\n"));
  }

  /** sha256(server_seed ‖ block_hash ‖ list_hash), over the 96 raw bytes. */
  async function finalSeed(serverSeed, blockHash, listHashHex) {
    if (typeof blockHash !== "string" || !RPC_HASH.test(blockHash)) {
      throw new Difference("block_hash", `not 0x and 64 lower-case hex digits: ${JSON.stringify(blockHash)}`);
    }
    return sha256Hex(
      concat(
        hexToBytes(checkHex64("server_seed", serverSeed)),
        hexToBytes(blockHash.slice(2)),
        hexToBytes(checkHex64("list_hash", listHashHex)),
      ),
    );
  }

  async function hmacKey(finalSeedHex) {
    const raw = hexToBytes(checkHex64("final_seed", finalSeedHex));
    return subtle().importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  }

  /** HMAC-SHA256(key = bytes of final_seed, message = the entry id's 32 ASCII characters), hex. */
  async function entryKey(finalSeedHex, entryId) {
    const key = await hmacKey(finalSeedHex);
    return bytesToHex(await subtle().sign("HMAC", key, ascii.encode(entryId)));
  }

  /** [{entry_id, quantity, key}] sorted by (key, entry_id), ascending: rank 1 first. */
  async function ranking(finalSeedHex, entries, onProgress) {
    const key = await hmacKey(finalSeedHex);
    const ranked = entries.map((e) => {
      const [entry_id, quantity] = pairOf(e);
      return { entry_id, quantity, key: "" };
    });
    for (let start = 0; start < ranked.length; start += CHUNK) {
      const slice = ranked.slice(start, start + CHUNK);
      const macs = await Promise.all(slice.map((e) => subtle().sign("HMAC", key, ascii.encode(e.entry_id))));
      slice.forEach((e, i) => {
        e.key = bytesToHex(macs[i]);
      });
      if (onProgress) onProgress(Math.min(start + CHUNK, ranked.length), ranked.length);
    }
    ranked.sort((a, b) =>
      a.key < b.key ? -1 : a.key > b.key ? 1 : a.entry_id < b.entry_id ? -1 : a.entry_id > b.entry_id ? 1 : 0,
    );
    return ranked;
  }

  /** Walk the ranking once: {winners: [{entry_id, quantity}], waitlist: [entry_id], remaining}. */
  function allocate(ranked, supply) {
    let remaining = supply;
    const winners = [];
    const waitlist = [];
    for (const e of ranked) {
      const [entry_id, quantity] = pairOf(e);
      if (quantity <= remaining) {
        winners.push({ entry_id, quantity });
        remaining -= quantity;
      } else {
        waitlist.push(entry_id);
      }
    }
    return { winners, waitlist, remaining };
  }

  /**
   * The places after the draw, round by round. apply(lapsed) lapses those holders (all
   * together), gives their cards back and walks the waitlist once from its top, skipping
   * entries promoted before (lapsed or not); it returns the promoted [{entry_id, quantity}].
   */
  class Settlement {
    constructor(supply, winners, waitlist, quantities) {
      this.quantities = quantities; // Map entry_id → quantity
      this.waitlist = waitlist;
      this.holders = new Map(winners.map((w) => pairOf(w)));
      this.remaining = supply - [...this.holders.values()].reduce((n, q) => n + q, 0);
      this.promoted = new Set();
      this.lapsed = new Set();
    }

    apply(lapsed, code = "promotions") {
      if (!Array.isArray(lapsed) || new Set(lapsed).size !== lapsed.length) {
        throw new Difference(`${code}.lapsed`, `not a list of distinct entry ids: ${JSON.stringify(lapsed)}`);
      }
      for (const id of lapsed) {
        if (!this.holders.has(id)) {
          const why = this.lapsed.has(id) ? "lapsed in an earlier round" : "never held a place";
          throw new Difference(`${code}.lapsed`, `${id} cannot lapse: it ${why}`);
        }
      }
      for (const id of lapsed) {
        this.remaining += this.holders.get(id);
        this.holders.delete(id);
        this.lapsed.add(id);
      }
      const promoted = [];
      for (const id of this.waitlist) {
        if (this.remaining === 0) break;
        if (this.promoted.has(id) || this.lapsed.has(id)) continue;
        const quantity = this.quantities.get(id);
        if (quantity <= this.remaining) {
          promoted.push({ entry_id: id, quantity });
          this.remaining -= quantity;
        }
      }
      for (const p of promoted) {
        this.holders.set(p.entry_id, p.quantity);
        this.promoted.add(p.entry_id);
      }
      return promoted;
    }
  }

  // --- checking a published record ------------------------------------------------------

  function show(pair) {
    return Array.isArray(pair) ? `${pair[0]} × ${pair[1]}` : JSON.stringify(pair);
  }

  function compareEntries(code, claimed, expected) {
    if (!Array.isArray(claimed)) throw new Difference(code, `not a list: ${JSON.stringify(claimed)}`);
    const n = Math.min(claimed.length, expected.length);
    for (let i = 0; i < n; i++) {
      const theirs = claimed[i] && typeof claimed[i] === "object" ? [claimed[i].entry_id, claimed[i].quantity] : claimed[i];
      const mine = [expected[i].entry_id, expected[i].quantity];
      if (!Array.isArray(theirs) || theirs[0] !== mine[0] || theirs[1] !== mine[1]) {
        throw new Difference(code, `#${i + 1} is ${show(theirs)}, the recomputed draw has ${show(mine)}`);
      }
    }
    if (claimed.length !== expected.length) {
      throw new Difference(code, `the record lists ${claimed.length}, the recomputed draw ${expected.length}`);
    }
  }

  function compareIds(code, claimed, expected) {
    if (!Array.isArray(claimed)) throw new Difference(code, `not a list: ${JSON.stringify(claimed)}`);
    const n = Math.min(claimed.length, expected.length);
    for (let i = 0; i < n; i++) {
      if (claimed[i] !== expected[i]) {
        throw new Difference(code, `#${i + 1} is ${JSON.stringify(claimed[i])}, the recomputed draw has ${expected[i]}`);
      }
    }
    if (claimed.length !== expected.length) {
      throw new Difference(code, `the record lists ${claimed.length}, the recomputed draw ${expected.length}`);
    }
  }

  function parseTime(value) {
    if (typeof value !== "string") return null;
    const t = Date.parse(value);
    return Number.isNaN(t) ? null : t / 1000;
  }

  async function rpcCall(rpcUrl, method, params) {
    let answer;
    try {
      const response = await fetch(rpcUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      });
      answer = await response.json();
    } catch (error) {
      throw new Difference("rpc", `${method} at ${rpcUrl} failed: ${error}`);
    }
    if (answer.error) throw new Difference("rpc", `${method} at ${rpcUrl}: ${JSON.stringify(answer.error)}`);
    return answer.result;
  }

  /** The anchor on the chain, as scripts/verify_lottery.py checks it. */
  async function checkChain(rpcUrl, record, anchor, ok, warn, scanBlocks) {
    const listHashHex = record.list_hash;
    const sender = anchor.from;
    const chainId = parseInt(await rpcCall(rpcUrl, "eth_chainId", []), 16);
    if (chainId !== anchor.chain_id) {
      throw new Difference("anchor.chain_id", `the node is chain ${chainId}, the record says ${anchor.chain_id}`);
    }
    const tx = await rpcCall(rpcUrl, "eth_getTransactionByHash", [anchor.tx_hash]);
    if (!tx) throw new Difference("anchor.tx_hash", `the chain has no transaction ${anchor.tx_hash}`);
    const expected = {
      from: sender,
      to: sender,
      input: "0x" + listHashHex,
      blockNumber: "0x" + anchor.block_number.toString(16),
      blockHash: anchor.block_hash,
    };
    for (const [field, value] of Object.entries(expected)) {
      let got = field === "input" ? (tx.input !== undefined ? tx.input : tx.data) : tx[field];
      if (typeof got === "string") got = got.toLowerCase();
      if (got !== value) {
        const code = { blockNumber: "anchor.block_number", blockHash: "anchor.block_hash" }[field] || "anchor";
        throw new Difference(code, `the anchor transaction's ${field} is ${JSON.stringify(got)}, expected ${JSON.stringify(value)}`);
      }
    }
    if (BigInt(tx.value || "0x0") !== 0n) throw new Difference("anchor", "the anchor transaction carries value");
    const receipt = await rpcCall(rpcUrl, "eth_getTransactionReceipt", [anchor.tx_hash]);
    if (!receipt || receipt.status !== "0x1") throw new Difference("anchor", "the anchor transaction did not succeed");
    const block = await rpcCall(rpcUrl, "eth_getBlockByNumber", [expected.blockNumber, false]);
    if (!block) throw new Difference("anchor.block_number", `the chain has no block ${anchor.block_number}`);
    if (block.hash !== anchor.block_hash) {
      throw new Difference(
        "anchor.block_hash",
        `the chain's block ${anchor.block_number} is ${block.hash}, the record says ${anchor.block_hash}`,
      );
    }
    if (!(block.transactions || []).map((h) => h.toLowerCase()).includes(anchor.tx_hash)) {
      throw new Difference("anchor.block_hash", `block ${anchor.block_number} does not include the anchor`);
    }
    const head = parseInt(await rpcCall(rpcUrl, "eth_blockNumber", []), 16);
    ok("anchor", `anchor on chain ${chainId}: block ${anchor.block_number} ${anchor.block_hash} (${head - anchor.block_number + 1} confirmations)`);
    if (parseInt(tx.nonce || "0x1", 16) === 0) warn("anchor", `the anchor is the first transaction ${sender} ever sent`);
    const closeAt = parseTime(record.applications_close_at);
    if (closeAt !== null && parseInt(block.timestamp, 16) < closeAt) {
      warn("anchor", "the anchor block's time is before applications_close_at");
    }
    // No earlier transaction from the sender to itself with the same list hash.
    let number = anchor.block_number;
    let scanned = 0;
    const calldata = "0x" + listHashHex;
    const others = []; // earlier anchor-shaped transactions with other data (see the Python verifier)
    while (number >= 0 && scanned < scanBlocks) {
      const full = await rpcCall(rpcUrl, "eth_getBlockByNumber", ["0x" + number.toString(16), true]);
      if (!full) throw new Difference("anchor", `the chain has no block ${number}`);
      if (closeAt !== null && parseInt(full.timestamp, 16) < closeAt && number !== anchor.block_number) break;
      for (const t of full.transactions || []) {
        const hash = t.hash.toLowerCase();
        if (hash === anchor.tx_hash && number === anchor.block_number) break;
        const input = (t.input !== undefined ? t.input : t.data || "").toLowerCase();
        const toSelf = (t.from || "").toLowerCase() === sender && (t.to || "").toLowerCase() === sender;
        if (toSelf && input === calldata) {
          throw new Difference(
            "anchor",
            `${t.hash} in block ${number} anchored the same list too: the list was anchored more than once`,
          );
        }
        if (toSelf && RPC_HASH.test(input)) others.push(`${t.hash} (block ${number})`);
      }
      scanned += 1;
      number -= 1;
    }
    if (others.length) {
      warn("anchor.others", `${others.length} earlier anchor-shaped transaction(s) with other data: ${others.slice(0, 5).join(", ")}`);
    }
    if (number >= 0 && scanned >= scanBlocks) {
      warn("anchor", `looked for an earlier anchor of the same list in ${scanned} blocks only`);
    } else {
      ok("anchor.first", `the anchor is the first transaction of this list hash from ${sender} (${scanned} blocks searched)`);
    }
  }

  /**
   * Every check of scripts/verify_lottery.py on a record and its list (already fetched).
   * options: {rpcUrl, commitment, scanBlocks (10000), onProgress(done, total)}.
   */
  async function verify(record, listing, options = {}) {
    const checks = [];
    const warnings = [];
    const ok = (code, detail) => checks.push({ code, ok: true, detail });
    const warn = (code, detail) => warnings.push({ code, detail });
    const result = { ok: false, checks, warnings, failure: null, notDrawn: false, chainChecked: false };
    let ranked = [];
    try {
      if (!record || record.algorithm !== ALGORITHM) {
        throw new Difference("algorithm", `the record says ${JSON.stringify(record && record.algorithm)}; this page knows ${ALGORITHM}`);
      }
      ok("algorithm", ALGORITHM);
      checkHex64("seed_commitment", record.seed_commitment);
      if (options.commitment && record.seed_commitment !== options.commitment.toLowerCase()) {
        throw new Difference("seed_commitment", `the record says ${record.seed_commitment}, you noted ${options.commitment}`);
      }
      if (!Number.isInteger(record.supply) || record.supply < 0) {
        throw new Difference("supply", `not a whole number ≥ 0: ${JSON.stringify(record.supply)}`);
      }
      ok("seed_commitment", record.seed_commitment);
      const drawn = record.state === "drawn" || record.state === "settled" || "server_seed" in record;
      if (!drawn && !("list_hash" in record)) {
        result.notDrawn = true;
        return result;
      }

      // The list.
      const entries = listing && listing.entries;
      if (!Array.isArray(entries)) throw new Difference("entries", "the list has no 'entries' array");
      const quantities = new Map();
      entries.forEach((e, n) => {
        const [id, quantity] = e && typeof e === "object" ? [e.entry_id, e.quantity] : [undefined, undefined];
        if (typeof id !== "string" || !HEX32.test(id)) {
          throw new Difference("entries", `entry #${n + 1} has no 32-hex-digit entry_id: ${JSON.stringify(e)}`);
        }
        if (!Number.isInteger(quantity) || quantity < 1) {
          throw new Difference("entries", `entry ${id} has no quantity ≥ 1: ${JSON.stringify(quantity)}`);
        }
        if (quantities.has(id)) throw new Difference("entries", `entry ${id} is listed twice`);
        quantities.set(id, quantity);
      });
      if (record.entries_count !== quantities.size) {
        throw new Difference("entries_count", `the record says ${record.entries_count}, the list has ${quantities.size}`);
      }
      ok("entries", `${quantities.size} entries`);
      const computed = await listHash([...quantities.entries()]);
      const claimed = checkHex64("list_hash", record.list_hash);
      if (listing.list_hash !== claimed) {
        throw new Difference("list_hash", `the list says ${listing.list_hash}, the record says ${claimed}`);
      }
      if (computed !== claimed) throw new Difference("list_hash", `the entries hash to ${computed}, the record says ${claimed}`);
      ok("list_hash", computed);

      // The anchor.
      const anchor = record.anchor;
      if (!anchor || typeof anchor !== "object") throw new Difference("anchor", "the record has no anchor");
      if (!Number.isInteger(anchor.chain_id)) throw new Difference("anchor.chain_id", "not a number");
      if (!Number.isInteger(anchor.block_number) || anchor.block_number < 0) {
        throw new Difference("anchor.block_number", "not a block number");
      }
      for (const [field, pattern] of [["from", RPC_ADDRESS], ["tx_hash", RPC_HASH], ["block_hash", RPC_HASH]]) {
        if (typeof anchor[field] !== "string" || !pattern.test(anchor[field])) {
          throw new Difference(`anchor.${field}`, `not 0x and lower-case hex: ${JSON.stringify(anchor[field])}`);
        }
      }
      if (options.rpcUrl) {
        await checkChain(options.rpcUrl, record, anchor, ok, warn, options.scanBlocks || 10000);
        result.chainChecked = true;
      }
      if (!drawn) {
        result.notDrawn = true;
        return result;
      }

      // The draw.
      const serverSeed = checkHex64("server_seed", record.server_seed);
      const commitment = await seedCommitment(serverSeed);
      if (commitment !== record.seed_commitment) {
        throw new Difference("server_seed", `sha256(server_seed) is ${commitment}, the commitment is ${record.seed_commitment}`);
      }
      ok("server_seed", "matches the commitment");
      const seed = await finalSeed(serverSeed, anchor.block_hash, claimed);
      if (record.final_seed !== seed) {
        throw new Difference("final_seed", `sha256(server_seed ‖ block_hash ‖ list_hash) is ${seed}, the record says ${record.final_seed}`);
      }
      ok("final_seed", seed);
      ranked = await ranking(seed, [...quantities.entries()], options.onProgress);
      const { winners, waitlist, remaining } = allocate(ranked, record.supply);
      compareEntries("winners", record.winners, winners);
      ok("winners", `${winners.length} entries, ${record.supply - remaining} of ${record.supply} cards`);
      compareIds("waitlist", record.waitlist, waitlist);
      ok("waitlist", `${waitlist.length} entries`);

      // Promotions.
      if (!Array.isArray(record.promotions)) throw new Difference("promotions", "not a list");
      const settlement = new Settlement(record.supply, winners, waitlist, quantities);
      let previous = parseTime(record.draw_at);
      for (let n = 0; n < record.promotions.length; n++) {
        const round = record.promotions[n];
        const code = `promotions[${n + 1}]`;
        const at = parseTime(round && round.at);
        if (at === null) throw new Difference(`${code}.at`, `not a time: ${JSON.stringify(round && round.at)}`);
        if (previous !== null && at < previous) throw new Difference(`${code}.at`, `${round.at} is before the draw or the round before it`);
        previous = at;
        const promoted = settlement.apply(round.lapsed, code);
        compareEntries(`${code}.promoted`, round.promoted, promoted);
        ok(code, `${round.lapsed.length} lapsed, ${promoted.length} promoted`);
      }
      result.ok = true;
    } catch (error) {
      if (!(error instanceof Difference)) throw error;
      result.failure = { code: error.code, detail: error.detail };
    }
    result.ranking = ranked.map((e) => e.entry_id);
    const positions = new Map(result.ranking.map((id, i) => [id, i]));
    result.rankOf = (entryId) => {
      const id = String(entryId).trim().toLowerCase();
      if (!positions.has(id)) return null;
      const won = (record.winners || []).some((w) => w.entry_id === id);
      const rounds = record.promotions || [];
      const promoted = rounds.some((r) => (r.promoted || []).some((p) => p.entry_id === id));
      const lapsed = rounds.some((r) => (r.lapsed || []).includes(id));
      const outcome = won ? "won" : promoted ? "promoted" : "waitlisted";
      return { rank: positions.get(id) + 1, of: result.ranking.length, quantity: ranked[positions.get(id)].quantity, outcome, lapsed };
    };
    return result;
  }

  /** The record and the list from a Furusato server ("" for this page's own origin). */
  async function load(baseUrl, dropId) {
    const base = `${baseUrl.replace(/\/$/, "")}/api/v1/drops/${encodeURIComponent(dropId)}/lottery`;
    const get = async (url) => {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Difference("server", `GET ${url} answered ${response.status}`);
      return response.json();
    };
    const record = await get(base);
    const listing = "list_hash" in record ? await get(`${base}/entries`) : null;
    return { record, listing };
  }

  root.Furusato = root.Furusato || {};
  root.Furusato.lotteryVerify = {
    ALGORITHM,
    Difference,
    Settlement,
    allocate,
    bytesToHex,
    entryKey,
    finalSeed,
    hexToBytes,
    listHash,
    listLines,
    load,
    ranking,
    seedCommitment,
    sha256Hex,
    verify,
  };
})(typeof window !== "undefined" ? window : globalThis);
