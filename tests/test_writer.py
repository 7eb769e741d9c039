"""The rolling WARC writer: file names, rolling, closing at exit, repair of interrupted files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from archive.home import Home
from archive.records import digest_of, new_record_id, warc_date
from archive.repair import recover
from archive.writer import WarcWriter

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"^salvage-\d{17}-\d{9}-[A-Za-z0-9_]+\.warc\.gz$")


def write_resource(writer: WarcWriter, i: int, size: int = 5000) -> None:
    body = os.urandom(size)
    writer.write("resource", [
        ("WARC-Record-ID", new_record_id()), ("WARC-Date", warc_date(datetime.now(UTC))),
        ("WARC-Target-URI", f"file:///drop/{i}.bin"), ("Content-Type", "application/octet-stream"),
        ("WARC-Payload-Digest", digest_of(body)), ("WARC-Block-Digest", digest_of(body)),
    ], body, payload_prefix=body[:100])


def test_files_roll_at_the_size_limit_and_are_named_by_time_serial_and_host(home):
    with WarcWriter(home, max_size=20_000) as writer:
        for i in range(12):
            write_resource(writer, i)
    files = sorted(home.warcs.iterdir())
    assert len(files) >= 3
    assert all(NAME.match(f.name) for f in files), [f.name for f in files]
    assert len(list(home.indexes.glob("*.cdxj"))) == len(files)
    closed = [e for e in home.audit.entries() if e["event"] == "warc.closed"]
    assert len(closed) == len(files) and sum(e["indexed"] for e in closed) == 12


def test_the_file_is_open_while_written_and_closed_when_the_process_exits(tmp_path):
    home = tmp_path / "home"
    code = (
        "import sys; sys.path.insert(0, sys.argv[2])\n"
        "from pathlib import Path\n"
        "from archive.home import Home\n"
        "from archive.writer import WarcWriter\n"
        "from test_writer import write_resource\n"
        "w = WarcWriter(Home(Path(sys.argv[1])))\n"
        "write_resource(w, 1)\n"
        "assert list(Path(sys.argv[1], 'warcs').glob('*.open'))\n"
        "# no close(): the writer must close itself at exit\n"
    )
    subprocess.run([sys.executable, "-c", code, str(home), str(ROOT / "tests")], cwd=ROOT,
                   check=True, timeout=60)
    warcs = list((home / "warcs").iterdir())
    assert len(warcs) == 1 and warcs[0].name.endswith(".warc.gz")


def test_repair_leaves_a_file_held_by_a_live_writer_alone(home):
    writer = WarcWriter(home)
    write_resource(writer, 1)
    assert recover(home) == []
    assert list(home.warcs.glob("*.open"))
    writer.close()
    assert not list(home.warcs.glob("*.open"))


def test_an_interrupted_file_is_cut_to_its_last_whole_record_and_the_cut_kept(home):
    writer = WarcWriter(home)
    for i in range(3):
        write_resource(writer, i)
    open_file = next(home.warcs.glob("*.open"))
    data = open_file.read_bytes()
    # simulate a crash mid-record: a copy of the file with half a record more, nobody holding it
    crashed = home.warcs / ("salvage-20200101000000000-000000001-crashed.warc.gz.open")
    crashed.write_bytes(data + data[-400:-200])
    writer.close()
    done = recover(Home(home.root))
    assert any("crashed" in d for d in done)
    closed = home.warcs / crashed.name.removesuffix(".open")
    assert closed.read_bytes() == data
    cut = [e for e in home.audit.entries() if e["event"] == "warc.repaired"]
    assert cut and cut[0]["cut_bytes"] == 200
    assert (home.root / cut[0]["kept_in"]).read_bytes() == data[-400:-200]
