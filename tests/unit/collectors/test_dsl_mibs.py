"""ADSL-LINE-MIB and VDSL2-LINE-MIB parsers: real CPE recordings and hand-built specials."""

from __future__ import annotations

import pytest

from collectors.mibs import adsl_line_mib as adsl
from collectors.mibs import if_mib
from collectors.mibs import vdsl2_line_mib as vdsl2
from collectors.samples import DslPeriod, DslStandard, DslUnit
from tests.conftest import require_shared_data
from tests.unit.collectors.snmprec import load_table

X = "1.3.6.1.2.1.10.251.1"


def test_adsl_teldat_line_with_channels_and_history():
    """Teldat: line ifIndex 11, fast/interleaved channels 12/13 and no ifStackTable."""
    path = require_shared_data("snmprec", "teldat_tv-base-vdsl2-adsl.snmprec")
    (line,) = adsl.parse_adsl_lines(load_table(path, adsl.COLUMNS))
    assert line.ifindex == 11
    assert line.standard is DslStandard.ADSL
    assert line.actual_down_kbps == 0  # the line was down: both channels at 0 bit/s
    assert line.xtuc.es == 0 and line.xtuc.inits == 0
    history = [i for i in line.intervals if i.period is DslPeriod.MIN15 and i.number >= 1]
    assert len(history) == 2 * 96
    # Teldat answers ValidData 0, which is not TruthValue true(1): the agent does not vouch.
    assert not any(i.valid for i in history)
    current_15 = next(
        i
        for i in line.intervals
        if i.unit is DslUnit.XTUC and i.period is DslPeriod.MIN15 and i.number == 0
    )
    assert current_15.monitored_s is None  # Teldat answers 8449563 s for a 15-minute bin


def test_adsl_draytek_whole_db_quirk():
    """DrayTek answers whole dB where the MIB says tenths (SNR 5 → 5.0 dB, not 0.5 dB)."""
    path = require_shared_data("snmprec", "draytek_vdsl.snmprec")
    table = load_table(path, adsl.COLUMNS)
    (line,) = adsl.parse_adsl_lines(table, db_unit_tenths=10)
    assert line.ifindex == 4
    assert (line.snr_margin_down_db, line.snr_margin_up_db) == (5.0, 5.0)
    assert (line.attn_down_db, line.attn_up_db) == (16.0, 13.0)
    assert line.attainable_down_kbps == 113_648
    assert line.attainable_up_kbps == 34_066
    (as_mib_says,) = adsl.parse_adsl_lines(table)
    assert as_mib_says.snr_margin_down_db == 0.5


def test_vdsl2_draytek_channel_rates_and_merge_with_adsl():
    path = require_shared_data("snmprec", "draytek_vdsl.snmprec")
    (v,) = vdsl2.parse_vdsl2_lines(load_table(path, vdsl2.COLUMNS))
    assert v.ifindex == 4
    assert (v.actual_down_kbps, v.actual_up_kbps) == (110_162, 33_029)
    assert v.snr_margin_down_db is None  # no band table on this modem
    a = adsl.parse_adsl_lines(load_table(path, adsl.COLUMNS), db_unit_tenths=10)
    (merged,) = vdsl2.merge_dsl_lines([v], a)
    assert merged.standard is DslStandard.VDSL2
    assert merged.actual_down_kbps == 110_162
    assert merged.snr_margin_down_db == 5.0
    assert merged.attainable_down_kbps == 113_648


def test_adsl_line_count_zero_on_dslam_recordings():
    """The public DSLAM recordings expose xDSL ports only in IF-MIB: no line rows."""
    path = require_shared_data("snmprec", "zxdsl.snmprec")
    assert adsl.parse_adsl_lines(load_table(path, adsl.COLUMNS)) == []
    assert vdsl2.parse_vdsl2_lines(load_table(path, vdsl2.COLUMNS)) == []


ADSL_SPECIALS = [
    ("SNR margin in range", adsl.ATUR_CURR_SNR_MGN, 63, "snr_margin_down_db", 6.3),
    ("negative SNR margin", adsl.ATUR_CURR_SNR_MGN, -15, "snr_margin_down_db", -1.5),
    ("SNR 0x7FFFFFFF", adsl.ATUR_CURR_SNR_MGN, 0x7FFFFFFF, "snr_margin_down_db", None),
    ("SNR beyond -640", adsl.ATUC_CURR_SNR_MGN, -2147483648, "snr_margin_up_db", None),
    ("attenuation as OCTET STRING", adsl.ATUR_CURR_ATN, b"\x01\x02", "attn_down_db", None),
    ("attenuation above 63 dB", adsl.ATUC_CURR_ATN, 4294967295, "attn_up_db", None),
    ("output power", adsl.ATUC_CURR_OUTPUT_PWR, 198, "output_power_down_dbm", 19.8),
    ("output power special", adsl.ATUC_CURR_OUTPUT_PWR, 0x7FFFFFFF, "output_power_down_dbm", None),
    ("attainable rate", adsl.ATUC_CURR_ATTAINABLE_RATE, 24_000_000, "attainable_down_kbps", 24_000),
    ("attainable all ones", adsl.ATUR_CURR_ATTAINABLE_RATE, 0xFFFFFFFF, "attainable_up_kbps", None),
    ("attainable as OID", adsl.ATUR_CURR_ATTAINABLE_RATE, "1.3.6", "attainable_up_kbps", None),
]


@pytest.mark.parametrize(
    ("description", "oid", "value", "field", "expected"),
    ADSL_SPECIALS,
    ids=[c[0] for c in ADSL_SPECIALS],
)
def test_adsl_special_values_become_missing(description, oid, value, field, expected):
    (line,) = adsl.parse_adsl_lines({oid: {"7": value}})
    assert getattr(line, field) == expected, description


def test_adsl_channels_follow_if_stack_on_multi_line_dslam():
    table = {
        adsl.ATUC_CURR_SNR_MGN: {"1": 60, "2": 70},
        adsl.ATUC_CHAN_CURR_TX_RATE: {"101": 8_000_000, "102": 0, "201": 2_000_000},
        adsl.ATUR_CHAN_CURR_TX_RATE: {"101": 800_000, "201": 640_000, "999": 5},
    }
    stack = if_mib.parse_if_stack({if_mib.IF_STACK_STATUS: {"101.1": 1, "102.1": 1, "201.2": 1}})
    lines = {r.ifindex: r for r in adsl.parse_adsl_lines(table, stack=stack)}
    assert (lines[1].actual_down_kbps, lines[1].actual_up_kbps) == (8_000, 800)
    assert (lines[2].actual_down_kbps, lines[2].actual_up_kbps) == (2_000, 640)


def test_adsl_interval_validity_flag_and_ext_counters():
    atuc_interval = "1.3.6.1.2.1.10.94.1.1.8.1"
    ext = "1.3.6.1.2.1.10.94.3.1"
    table = {
        adsl.ATUC_CURR_SNR_MGN: {"5": 60},
        f"{atuc_interval}.6": {"5.1": 3, "5.2": 900},
        f"{atuc_interval}.8": {"5.1": 1, "5.2": 2},  # TruthValue: 1 true, 2 false
        f"{ext}.18.1.2": {"5": 4},  # failed fast retrains
        f"{ext}.18.1.3": {"5": 12},  # SES
        f"{ext}.19.1.3": {"5.1": 1},
    }
    (line,) = adsl.parse_adsl_lines(table)
    assert (line.xtuc.failed_inits, line.xtuc.ses) == (4, 12)
    by_number = {i.number: i for i in line.intervals if i.unit is DslUnit.XTUC}
    assert (by_number[1].valid, by_number[1].es, by_number[1].ses) == (True, 3, 1)
    assert (by_number[2].valid, by_number[2].es) == (False, 900)


VDSL2_BANDS = [
    ("whole-direction bands", {"9.1": 61, "9.2": 95, "9.4": 120}, 9.5, 6.1),
    ("RFC 5650 unavailable 0x7FFFFFFE", {"9.1": 0x7FFFFFFE, "9.2": 0x7FFFFFFF}, None, None),
    ("legacy 1022/1023 codes", {"9.1": 1023, "9.2": 1022}, None, None),
    ("per-band only: worst band", {"9.4": 120, "9.6": 80, "9.8": 0x7FFFFFFE, "9.3": 70}, 8.0, 7.0),
    ("negative margin", {"9.2": -20}, -2.0, None),
    ("type surprise", {"9.2": b"\x00\x5f"}, None, None),
]


@pytest.mark.parametrize(
    ("description", "snr", "down", "up"), VDSL2_BANDS, ids=[c[0] for c in VDSL2_BANDS]
)
def test_vdsl2_band_snr_margin_special_values(description, snr, down, up):
    (line,) = vdsl2.parse_vdsl2_lines({vdsl2.LINE_BAND_SNR_MARGIN: snr})
    assert (line.snr_margin_down_db, line.snr_margin_up_db) == (down, up), description


def test_vdsl2_line_status_atp_attainable_and_pm_bins():
    table = {
        vdsl2.LINE_STATUS_ATTAINABLE_RATE_DS: {"9": 120_500_000},
        vdsl2.LINE_STATUS_ATTAINABLE_RATE_US: {"9": 0x7FFFFFFF},
        vdsl2.LINE_STATUS_ACT_ATP_DS: {"9": 145},
        vdsl2.LINE_STATUS_ACT_ATP_US: {"9": 2147483647},
        vdsl2.LINE_BAND_LN_ATTEN: {"9.2": 1271 * 0 + 215, "9.1": 0x7FFFFFFE},
        f"{X}.4.1.1.1.4": {"9.1": 300, "9.2": 300},
        f"{X}.4.1.1.1.6": {"9.1": 2, "9.2": 0},  # ES
        f"{X}.4.1.1.1.7": {"9.1": 1, "9.2": 0},  # SES
        f"{X}.4.1.1.1.9": {"9.1": 0, "9.2": 5},  # UAS
        f"{X}.4.1.2.1.4": {"9": 3},  # full inits, current 15 min
        f"{X}.4.1.2.1.5": {"9": 1},  # failed
        f"{X}.4.1.3.1.5": {"9.1.1": 7, "9.1.2": 0},
        f"{X}.4.1.3.1.9": {"9.1.1": 1, "9.1.2": 2},
    }
    (line,) = vdsl2.parse_vdsl2_lines(table)
    assert line.attainable_down_kbps == 120_500
    assert line.attainable_up_kbps is None
    assert (line.output_power_down_dbm, line.output_power_up_dbm) == (14.5, None)
    assert (line.attn_down_db, line.attn_up_db) == (21.5, None)
    cur = {(i.unit, i.period, i.number): i for i in line.intervals}
    c15 = cur[(DslUnit.XTUC, DslPeriod.MIN15, 0)]
    assert (c15.es, c15.ses, c15.uas, c15.inits, c15.failed_inits) == (2, 1, 0, 3, 1)
    assert cur[(DslUnit.XTUR, DslPeriod.MIN15, 0)].uas == 5
    assert cur[(DslUnit.XTUC, DslPeriod.MIN15, 1)].valid is True
    assert cur[(DslUnit.XTUC, DslPeriod.MIN15, 2)].valid is False
