"""Market-data feeds, the book engine and replay; archive/import, checkpoints and `book at`
(store.py), book gaps (gaps.py), feed integrity (integrity.py) and liquidity windows
(liquidity.py) build on them. Nothing here imports Prefect.

The API (a contract: add to it, never rename):

orderbook.events
    ADD, REDUCE, DELETE, MODIFY, CLEAR, TRADE, HALT, NONE = 1, 2, 3, 4, 5, 6, 7, 0  (uint8)
    BID, ASK, NO_SIDE = 1, -1, 0                                                     (int8)
    F_LAST=128, F_TOB=64, F_SNAPSHOT=32, F_MBP=16, F_BAD_TS_RECV=8, F_MAYBE_BAD_BOOK=4
    EVENTS: pa.Schema   ts int64 (ns since epoch, UTC, not null), ts_event int64 (nullable),
        action uint8, side int8, price int64 (feed units, nullable), size int64, order_id uint64,
        flags uint8, sequence int64 (null when none), channel int32 (nullable), line int64
        (1-based line in the source file), raw_action string ('1'..'7' or 'A','C','M','R','T',
        'F','N'; ITCH: the type letter; L2: 'S' snapshot, 'U' update, 'C' clear, 'X' cut by the
        depth), instrument_id uint32 (nullable; MBO, ITCH stock locate, L2 1.. per symbol)
    level_columns(depth) -> ["ask_price_1", "ask_size_1", "bid_price_1", "bid_size_1", ...]
    book_rows_schema(depth, metadata=None) -> pa.Schema   ts int64 + the level columns (int64,
        null for an empty level); metadata keys salvage.price_scale, salvage.depth, ...
    FeedInfo(format "lobster"|"mbo"|"itch"|"l2", price_scale 10_000|1_000_000_000, symbol,
        venue, date, size_scale=1 (L2: 10**8)) frozen; .as_metadata() -> dict[str, str]
    FeedFinding(kind, line, detail, symbol=None, first_seq=None, last_seq=None, from_ts=None,
        to_ts=None, last_line=None, source=None); .as_dict(); kinds FINDING_KINDS: sequence_gap,
        filled, checksum_mismatch, stale_snapshot, unknown_state, resynced, snapshot_verified,
        snapshot_mismatch. Feed.findings: list[FeedFinding] (filled while iterating)
    FeedError(SalvageError)(line, reason, path=None): .line (1-based, 0 = whole file), .reason,
        .as_dict(); subclasses MalformedRow (skipped row), RejectedEvent (well-formed event the
        book cannot apply), UnreadableFeed (nothing readable: CLI exits 1), MixedInstruments
    Feed: .info, .path, .batch_rows, .errors (list[FeedError], filled while iterating, in the
        order found: sort by .line), .blank_lines, .batches() -> Iterator[pa.RecordBatch]
        (EVENTS; blocks of at most ~1 MB of text, parsed one ahead on a thread),
        .symbols() -> pa.Table (instrument_id, symbol, events), .table() -> pa.Table (all)

orderbook.lobster
    read_lobster(path, *, date=None, symbol=None, batch_rows=1_000_000) -> Feed
        date and symbol from SYMBOL_YYYY-MM-DD_start_end_message_N.csv when not given;
        ts = the seconds after midnight, New York time (America/New_York via zoneinfo), in UTC ns;
        ts_event = ts; sequence/channel/instrument_id null; flags 0. Types: 1 ADD, 2 REDUCE,
        3 DELETE, 4 REDUCE (visible execution; raw_action '4'), 5 and 6 TRADE, 7 HALT.
    read_lobster_book(path, depth=None) -> pa.Table   ask_price_1, ask_size_1, bid_price_1,
        bid_size_1, ... (int64; padded levels ±9999999999 -> null price and size)
    book_file_for(message_path) -> Path | None       the matching orderbook file beside it
    parse_lobster_name(path) -> (symbol, date, level) | None
    midnight_ns(date) -> int                          New York midnight in UTC ns
    BookRows(path, depth=None, batch_rows=...)        the orderbook file streamed;
        .depth, .errors, .rows_for(lines: np.ndarray ascending) -> pa.Table (level columns +
        `present` bool), what Book.apply(book=...) takes

orderbook.mbo
    read_mbo(path, *, symbol=None, batch_rows=1_000_000) -> Feed    Databento MBO CSV;
        ts = ts_recv, ts_event = ts_event (integer ns or ISO 8601), price in 1e-9 units (integer
        or decimal string); symbol filters by the symbol column or, all digits, instrument_id.
        A -> ADD, C -> REDUCE, M -> MODIFY, R -> CLEAR, T/F -> TRADE, N -> NONE; B/A/N sides.
        MboFeed.for_symbol(symbol) -> MboFeed; .seen_instruments, .seen_symbols (after a pass)

orderbook.engine
    Book(depth=10, price_scale=1)          one instrument's book; state in numpy arrays
        .apply(batch, book=None) -> pa.RecordBatch   ts + level columns, one row per event;
            `book`: optional table/batch of orderbook rows aligned with the batch (row k = the
            state after event k, LOBSTER's file) that supplies levels entering from beyond the
            known depth and corrects mismatches (both counted)
        .levels(depth=None) -> pa.Table   side int8, level int32 (1 = best), price, size,
            orders int32 (known resting orders) — bids then asks, best first
        .checkpoint() -> Checkpoint;  Book.from_checkpoint(cp, depth) -> Book
        .counts: dict[str, int]   events, rows, adds, reduces, deletes, modifies, clears,
            trades, halts, unknown_order_fallbacks, unknown_orders_ignored, duplicates, rejected,
            levels_supplied_by_book_file, book_mismatches, book_rows_missing, crossed, locked
            (rows), snapshot_events, maybe_bad_book (flagged events)
        .ts: int (ts of the last event applied), .events: int, .errors: list[RejectedEvent]
        .schema: book_rows_schema(depth)
    Checkpoint(ts, events, orders: pa.Table, levels: pa.Table, known_bid=None, known_ask=None,
               next_priority=0)
        orders: order_id uint64, side int8, price int64, size int64, priority int64
        levels: side int8, price int64, size int64, orders int32 (size may exceed the orders'
            sum: quantity known only as a level, e.g. LOBSTER's seed row)
        price_scale=1; .to_table() -> pa.Table (one table: kind 'order'|'level', side, price,
        size, order_id, priority, orders; ts/events/known_*/next_priority in schema metadata);
        Checkpoint.from_table(t)

orderbook.replay
    open_feed(path, fmt=None, *, symbol=None, date=None, batch_rows=...) -> Feed  (fmt guessed
        from the name or the first line when None)
    replay(feed, depth, *, book_file=None, symbol=None, use_book=True) -> ReplayResult
        LOBSTER: the orderbook file beside the message file (or book_file) seeds the book (its
        first row with the first message undone) and is passed to Book.apply. Counts add
        started_empty, malformed_rows, blank_lines.
    seed_checkpoint(first_batch, row: dict, depth_l, price_scale) -> Checkpoint  (the seed;
        `_seed` is the same function)
    ReplayResult: table (pa.Table, book_rows_schema), counts, errors (list[FeedError]), info,
        depth; .summary() -> str
    write_replay(result, out) -> None   .csv (header row; OUT.csv.meta.json sidecar with
        price_scale, depth, counts, errors), .parquet / .arrow (same in schema metadata);
        temp + fsync + rename; BadOutput(SalvageError) for another extension or a missing folder
    read_replay(path) -> (pa.Table, dict metadata with price_scale, depth, counts)

orderbook.itch
    read_itch(path | [paths], *, symbol=None, date=None, batch_rows=1_000_000, framing=None,
        port=None) -> ItchFeed   NASDAQ TotalView-ITCH 5.0: a length-prefixed file ("file") or
        MoldUDP64 in a pcap ("pcap", guessed from the magic); several pcaps = A/B lines merged.
        ts = New York midnight of the day (date, else 8 digits in the name, else the capture)
        + the 6-byte timestamp; sequence = message index (file) or MoldUDP64 number (pcap);
        A/F ADD, E/X REDUCE, C REDUCE at its price, D DELETE, U DELETE+ADD, P/Q TRADE, H HALT,
        S NONE (no instrument). ItchFeed: .directory (locate -> symbol), .counts, .messages,
        .system_events, .trading_states, .arbitration, .findings, .symbols()
    date_from_name(path) -> date | None;  BrokenFraming(MalformedRow)

orderbook.itchwrite    spec messages (message, system, directory, trading_action, add, executed,
    executed_at, cancel, delete, replace, trade, cross_trade), order_flow(n, seed), mold_packet,
    packets_of, pcap, frame, write_capture: for tests, the benchmark and the demo

orderbook.moldudp
    read_pcap(path, *, port=None) -> Iterator[(ts ns, udp payload)]; udp_packets(...);
    mold_packets / mold_messages(packets) -> Iterator[arbitrate.Message];
    frame_chunks(messages) -> Iterator[Framed(buf, seq, first_line)];
    MoldMerge(lines) / open_captures(paths, port=None): merged packets, .chunks(), .holes,
        .arbitrations, .findings(midnight, symbol=None)

orderbook.l2
    read_l2(paths, venue "binance"|"coinbase"|"kraken", *, symbol=None, date=None, depth=None,
        batch_rows=100_000) -> L2Feed   JSON lines (bare, {"localTimestamp","message"}, or
        "<ISO time> <json>"); a level is one synthetic order (ADD/MODIFY/DELETE), a snapshot a
        CLEAR + ADDs flagged F_SNAPSHOT, rows in an unknown-state window F_MAYBE_BAD_BOOK;
        price_scale 10**9, size_scale 10**8 (exact decimals). Several paths: Binance A/B lines.
        L2Feed: .findings, .counts, .arbitration, .symbols(), .for_symbol(s), .levels(symbol)
    orderbook.checksum.kraken_checksum(asks, bids) -> int   (CRC32 of the top 10 as text)

orderbook.arbitrate
    Message(first, last, payload=None, line=0, source=0); arbitrate(lines: dict[name, iterable]
        | list, report=None) -> Iterator[Message] in sequence order (first copy kept, line A's
        on a tie); Arbitration: .lines, .taken, .duplicates, .filled (per line: ranges it
        lacked that another supplied), .holes (ranges no line had), .as_dict()

orderbook.integrity
    integrity_findings(home, files) -> list[Finding]  (orderbook.sequence_gap | .checksum |
        .state_unknown from `feed_findings`, with the unknown window, resync and verification)
    feed_findings(home, shas=None) -> list[dict];  repair_of(home, evidence, entity) -> dict|None;
    settle_incident(home, store, incident) -> str   recovered when a merged stream fills the gap,
        else unrecoverable with the resync as evidence

orderbook.gaps (additions)
    store_findings(home) -> (findings, unreadable)   orderbook.store_damaged: a stream whose
        stored files are missing, unreadable or disagree with book_files (Parquet footers)

orderbook.drill      the drill's order-book scenario: window_candidates(home), run_books(home,
    scratch, chosen, ctx) (storage/drill.py registers it)

orderbook.liquidity
    liquidity(home, symbol, start, end, *, interval_ns=60e9, size=None, bps=(10, 25, 50),
        venue=None, depth=50) -> pa.Table   per interval: events, state ok|no_book|unknown,
        spread (time-weighted, close, min, max; price units and bps), depth within X bps
        (bid/ask/total, time-weighted and close), buy/sell cost of `size` (avg price, bps vs
        mid, unfilled); write_liquidity(table, path); parse_interval("1m") -> ns

orderbook.store (additions)
    rebuild_stream(home, sha256) -> list[Stored]   book repair: the stream's derived files
        rebuilt from the feed bytes archived in the WARCs (no new record; a book_files row only
        if something differs); restore_feed(home, sha256, dest) -> Path; by_instrument(batch,
        attach_unassigned=False) -> [(instrument_id | None, batch)]
    import_feeds(..., lines=False): the files are A/B captures of one ITCH or L2 feed, merged;
        READERS[fmt](paths, symbol, day, venue) -> Feed; the readers' findings go to the
        `feed_findings` table; book_files v2 adds size_scale, lines, line_sha256s
"""
