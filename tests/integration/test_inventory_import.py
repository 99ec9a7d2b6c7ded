"""Inventory import/export on SQLite and PostgreSQL, through the library and the CLI."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nocd.cli import app
from nocd.errors import ConfigError
from nocd.inventory import (
    EntityCounts,
    export_csv,
    export_payload,
    export_yaml,
    import_documents,
    import_payload,
    import_text,
    parse_inventory,
)
from nocd.storage import inventory_repo as repo
from nocd.storage.db import head_revision, make_engine, session_factory

pytestmark = pytest.mark.integration

INVENTORY = textwrap.dedent("""\
    districts: [{id: xihu, name: Xihu}, {id: binj, name: Binjiang}]
    devices:
      - {name: xihu-agg-01, district: xihu, kind: aggregation, address: 127.0.1.1, port: 161,
         snmp: {version: 2c, community: public}}
      - {name: xihu-dslam-01, district: xihu, kind: dslam, address: 127.0.1.2, port: 1161,
         parent: xihu-agg-01, vendor: Huawei,
         snmp: {version: 3, user: noc, auth_protocol: sha, auth_key: authpass1,
                priv_protocol: aes, priv_key: privpass1}}
      - {name: binj-sw-01, district: binj, kind: access_switch, address: "2001:db8::1",
         snmp: {version: 1, community: private}}
    customers:
      - {id: C1001, name: Customer 1001, sla_class: residential}
      - {id: C1002, name: Customer 1002, sla_class: enterprise, contact: "+86 571 0000"}
    lines:
      - {device: xihu-dslam-01, ifindex: 1001, customer: C1001, plan_down_kbps: 8192,
         plan_up_kbps: 1024}
      - {device: xihu-dslam-01, ifindex: 1002, customer: C1002, plan_down_kbps: 102400,
         plan_up_kbps: 20480}
    """)


def counts(result):
    return {
        name: (c.created, c.updated, c.unchanged, c.deleted) for name, c in result.counts.items()
    }


def test_import_should_create_everything_then_be_idempotent(session):
    first = import_text(session, INVENTORY, "inv.yaml")
    assert counts(first) == {
        "districts": (2, 0, 0, 0),
        "devices": (3, 0, 0, 0),
        "customers": (2, 0, 0, 0),
        "lines": (2, 0, 0, 0),
    }
    session.commit()
    dslam = repo.get_device(session, "xihu-dslam-01")
    assert (dslam.parent, dslam.port, dslam.vendor) == ("xihu-agg-01", 1161, "Huawei")
    assert dslam.snmp.priv_key.get_secret_value() == "privpass1"
    assert repo.get_device(session, "binj-sw-01").address == "2001:db8::1"
    second = import_text(session, INVENTORY, "inv.yaml")
    assert not second.changed
    assert counts(second)["lines"] == (0, 0, 2, 0)


def test_reimport_should_update_only_what_changed(session):
    import_text(session, INVENTORY, "inv.yaml")
    changed = INVENTORY.replace("plan_down_kbps: 8192", "plan_down_kbps: 16384").replace(
        "address: 127.0.1.1", "address: 127.0.1.9"
    )
    result = import_text(session, changed, "inv.yaml")
    assert counts(result)["lines"] == (0, 1, 1, 0)
    assert counts(result)["devices"] == (0, 1, 2, 0)
    assert repo.get_line(session, "xihu-dslam-01", 1001).plan_down_kbps == 16384


def test_fields_a_file_leaves_out_should_keep_their_stored_values(session):
    import_text(session, INVENTORY, "inv.yaml")
    without = INVENTORY.replace(" vendor: Huawei,", "").replace(', contact: "+86 571 0000"', "")
    result = import_text(session, without, "inv.yaml")
    assert not result.changed
    assert repo.get_device(session, "xihu-dslam-01").vendor == "Huawei"
    assert repo.get_customer(session, "C1002").contact == "+86 571 0000"


def test_csv_lines_may_reference_devices_imported_earlier(session):
    import_text(session, INVENTORY, "inv.yaml")
    lines_csv = (
        "device,ifindex,customer,plan_down_kbps,plan_up_kbps\nxihu-dslam-01,1003,C1001,4096,512\n"
    )
    result = import_text(session, lines_csv, "lines.csv")
    assert counts(result) == {"lines": (1, 0, 0, 0)}
    assert repo.list_lines(session).total == 3


def test_bad_file_should_leave_the_database_unchanged(session):
    import_text(session, INVENTORY, "inv.yaml")
    before = export_payload(session)
    bad = INVENTORY.replace("name: Customer 1001", "name: Renamed") + (
        "  - {device: xihu-dslam-01, ifindex: 1003, customer: C9999, plan_down_kbps: 1,\n"
        "     plan_up_kbps: 1}\n"
    )
    with pytest.raises(ConfigError) as info:
        import_text(session, bad, "bad.yaml", prune=True)
    assert [str(p) for p in info.value.problems] == [
        "bad.yaml:19: customer: unknown customer 'C9999'"
    ]
    assert export_payload(session) == before


def test_prune_should_delete_what_the_file_no_longer_lists(session):
    import_text(session, INVENTORY, "inv.yaml")
    smaller = textwrap.dedent("""\
        lines:
          - {device: xihu-dslam-01, ifindex: 1001, customer: C1001, plan_down_kbps: 8192,
             plan_up_kbps: 1024}
        """)
    result = import_text(session, smaller, "lines.yaml", prune=True)
    assert counts(result) == {"lines": (0, 0, 1, 1)}
    # Only the sections the file carries are pruned.
    assert repo.list_devices(session).total == 3
    assert repo.list_customers(session).total == 2


def test_prune_should_refuse_to_reach_into_sections_the_file_lacks(session):
    import_text(session, INVENTORY, "inv.yaml")
    only_districts = "districts: [{id: xihu, name: Xihu}]\n"
    with pytest.raises(ConfigError) as info:
        import_text(session, only_districts, "d.yaml", prune=True)
    assert [str(p) for p in info.value.problems] == [
        "d.yaml: districts: cannot prune district 'binj': 1 device(s) still in it (binj-sw-01); "
        "list the district, or import its devices with --prune"
    ]
    customers = "customers: [{id: C1001, name: Customer 1001}]\n"
    with pytest.raises(ConfigError, match="cannot prune customer 'C1002': 1 line"):
        import_text(session, customers, "c.yaml", prune=True)
    devices_only = INVENTORY.split("customers:")[0].replace("districts:", "#").split("devices:")[1]
    devices_only = "devices:" + devices_only.replace(
        textwrap.indent(
            textwrap.dedent("""\
            - {name: xihu-dslam-01"""),
            "  ",
        ),
        "  - {name: gone",
    )
    with pytest.raises(ConfigError, match="cannot prune device 'xihu-dslam-01': it has 2 line"):
        import_text(session, devices_only, "dev.yaml", prune=True)


def test_prune_across_sections_in_one_import(session):
    import_text(session, INVENTORY, "inv.yaml")
    rest = INVENTORY.replace("{id: binj, name: Binjiang}", "").replace(", ]", "]")
    rest = rest.split("  - {name: binj-sw-01")[0] + "customers:" + rest.split("customers:")[1]
    result = import_text(session, rest, "rest.yaml", prune=True)
    assert counts(result)["devices"] == (0, 0, 2, 1)
    assert counts(result)["districts"] == (0, 0, 1, 1)
    assert repo.get_district(session, "binj") is None


def test_yaml_export_should_round_trip(session):
    import_text(session, INVENTORY, "inv.yaml")
    text = export_yaml(session)
    assert text.startswith("# nocd inventory export")
    assert "privpass1" in text, "the export is a backup: secrets must survive it"
    result = import_text(session, text, "export.yaml", prune=True)
    assert not result.changed
    assert sum(c.unchanged for c in result.counts.values()) == 9


def test_csv_export_should_round_trip(session):
    import_text(session, INVENTORY, "inv.yaml")
    files = export_csv(session)
    assert sorted(files) == ["customers.csv", "devices.csv", "districts.csv", "lines.csv"]
    documents = [parse_inventory(text, name) for name, text in files.items()]
    result = import_documents(session, documents, prune=True)
    assert not result.changed, result.as_dict()
    assert result.counts["devices"] == EntityCounts(unchanged=3)


def test_payload_import_should_round_trip_through_export_payload(session):
    import_text(session, INVENTORY, "inv.yaml")
    payload = json.loads(json.dumps(export_payload(session)))
    assert not import_payload(session, payload, prune=True).changed


# --- CLI (real commits: a database of the test's own) ---------------------------------------


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "nocd.toml"
    path.write_text(f'[storage]\nurl = "{url}"\n', encoding="utf-8")
    return path


def test_cli_import_export_and_exit_codes(fresh_db_url, tmp_path):
    runner = CliRunner()
    config = _config(tmp_path, fresh_db_url)
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")

    result = runner.invoke(app, ["inventory", "import", str(inventory), "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "devices: 3 created, 0 updated, 0 unchanged, 0 deleted" in result.stdout

    result = runner.invoke(
        app, ["inventory", "import", str(inventory), "--json", "-c", str(config)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"]["lines"] == {"created": 0, "updated": 0, "unchanged": 2, "deleted": 0}

    out = tmp_path / "export"
    result = runner.invoke(
        app, ["inventory", "export", "--format", "csv", "--out", str(out), "-c", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "devices.csv").stat().st_mode & 0o777 == 0o600
    csv_files = sorted(str(p) for p in out.glob("*.csv"))
    result = runner.invoke(
        app, ["inventory", "import", *csv_files, "--prune", "--json", "-c", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert all(
        c["unchanged"] and not c["deleted"] for c in json.loads(result.stdout)["counts"].values()
    )

    result = runner.invoke(app, ["inventory", "export", "-c", str(config)])
    assert result.exit_code == 0
    assert "xihu-dslam-01" in result.stdout


def test_cli_bad_file_should_exit_2_listing_every_problem_and_write_nothing(fresh_db_url, tmp_path):
    runner = CliRunner()
    config = _config(tmp_path, fresh_db_url)
    bad = tmp_path / "devices.csv"
    bad.write_text(
        "name,district,kind,address,port,snmp_version,community,parent\n"
        "ok-1,xihu,dslam,10.0.0.1,161,2c,public,\n"
        "bad-1,xihu,olt,10.0.0.2,161,2c,public,\n"
        "bad-2,xihu,dslam,10.0.0.999,161,2c,public,ghost\n",
        encoding="utf-8",
    )
    districts = tmp_path / "districts.csv"
    districts.write_text("id,name\nxihu,Xihu\n", encoding="utf-8")
    result = runner.invoke(
        app, ["inventory", "import", str(districts), str(bad), "-c", str(config)]
    )
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{bad}:3: kind: unknown kind 'olt': "
        "must be one of dslam, access_switch, aggregation, bras",
        f"{bad}:4: address: '10.0.0.999' is not an IP address",
    ]
    engine = make_engine(fresh_db_url)
    try:
        with session_factory(engine)() as session:
            assert repo.list_districts(session).total == 0, "nothing may be written"
    finally:
        engine.dispose()


def test_cli_should_exit_1_when_the_database_is_down(tmp_path):
    config = _config(tmp_path, "postgresql+psycopg://nocd:hunter2@127.0.0.1:1/nocd")
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    result = CliRunner().invoke(app, ["inventory", "import", str(inventory), "-c", str(config)])
    assert result.exit_code == 1
    assert "127.0.0.1:1/nocd is unavailable" in result.stderr
    assert "hunter2" not in result.output


def test_cli_should_exit_1_on_an_unmigrated_database_until_db_upgrade(blank_db_url, tmp_path):
    runner = CliRunner()
    config = _config(tmp_path, blank_db_url)
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    result = runner.invoke(app, ["inventory", "import", str(inventory), "-c", str(config)])
    assert result.exit_code == 1
    assert "run `nocd db upgrade`" in result.stderr
    result = runner.invoke(app, ["db", "upgrade", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert f"is at revision {head_revision()}" in result.stdout
    result = runner.invoke(app, ["inventory", "import", str(inventory), "-c", str(config)])
    assert result.exit_code == 0, result.output


def test_cli_export_csv_needs_an_output_directory(tmp_path):
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(app, ["inventory", "export", "--format", "csv", "-c", str(config)])
    assert result.exit_code == 2
    assert "--out DIR" in result.stderr
