"""Report labels in English and Chinese: one table, looked up by key (``label("sla", "zh-CN")``).

Every visible word of the HTML report and chart comes from here; CSV headers and JSON keys
are the stable English field names and are never translated.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = ["LABELS", "Lang", "label"]


class Lang(StrEnum):
    """Languages a report can be rendered in."""

    EN = "en"
    ZH_CN = "zh-CN"


# key → (English, 简体中文)
_TABLE: Final[dict[str, tuple[str, str]]] = {
    "title": ("Network SLA report", "网络服务等级(SLA)报告"),
    "period_day": ("Day", "日报"),
    "period_month": ("Month to date", "月报(截至当日)"),
    "period": ("Period", "统计周期"),
    "time_zone": ("Time zone", "时区"),
    "generated_at": ("Generated", "生成时间"),
    "evaluated_until": ("Data until", "数据截至"),
    "network": ("Whole network", "全网"),
    "district": ("District", "区县"),
    "all": ("all", "全部"),
    "contents": ("Contents", "目录"),
    "no_data": ("No data in this period.", "本周期无数据。"),
    "no_source": ("No data source yet", "尚无数据源"),
    # sections
    "sla": ("Service levels (KQI against SLA targets)", "服务质量指标(KQI)与SLA目标"),
    "kqis": ("Key quality indicators", "关键质量指标(KQI)"),
    "trend": ("30-day trend", "近30天趋势"),
    "outages": ("Outages", "故障中断"),
    "worst_dslams": ("Top 10 worst DSLAMs", "最差10台DSLAM"),
    "worst_ports": ("Top 10 worst uplink ports", "最差10个上联端口"),
    "worst_lines": ("Top 10 worst lines", "最差10条线路"),
    "stability": ("Line stability classes", "线路稳定性分类"),
    "tickets": ("Tickets", "工单"),
    "capacity": ("Capacity outlook (exhaustion within 90 days)", "容量展望(90天内耗尽)"),
    "changes": ("What changed since yesterday", "与昨日相比的变化"),
    # columns
    "target": ("Target", "目标"),
    "kqi": ("KQI", "指标"),
    "sla_class": ("SLA class", "SLA等级"),
    "scope": ("Scope", "类型"),
    "objective": ("Objective", "目标值"),
    "sli": ("Achieved", "实际值"),
    "status": ("Status", "状态"),
    "error_budget_remaining_ratio": ("Error budget left", "剩余误差预算"),
    "error_budget_remaining": ("Budget left", "剩余预算"),
    "burn_rate": ("Burn rate", "消耗速率"),
    "entities": ("Entities", "对象数"),
    "value": ("Value", "数值"),
    "numerator": ("Numerator", "分子"),
    "denominator": ("Denominator", "分母"),
    "date": ("Date", "日期"),
    "line_availability": ("Line availability", "线路可用率"),
    "customer_minutes_lost": ("Customer-minutes lost", "用户中断分钟数"),
    "device": ("Device", "设备"),
    "start": ("Start", "开始"),
    "end": ("End", "结束"),
    "ongoing": ("ongoing", "持续中"),
    "duration_s": ("Duration", "时长"),
    "down_s": ("Down", "中断时长"),
    "maintenance_s": ("In maintenance", "维护时段"),
    "cause": ("Cause", "原因"),
    "lines": ("Lines", "线路数"),
    "port": ("Port", "端口"),
    "congestion_share": ("Congested share", "拥塞占比"),
    "max_utilisation": ("Peak utilisation", "峰值利用率"),
    "line": ("Line", "线路"),
    "customer": ("Customer", "用户"),
    "availability": ("Availability", "可用率"),
    "unknown_s": ("Unknown", "未知时长"),
    "stable": ("stable", "稳定"),
    "errored": ("errored", "误码"),
    "marginal": ("marginal", "临界"),
    "unstable": ("unstable", "不稳定"),
    "unscored": ("not scored", "未评分"),
    "opened": ("Opened", "新建"),
    "faults": ("Faults", "障碍"),
    "installations": ("Installations", "装机"),
    "complaints": ("Complaints", "投诉"),
    "resolved": ("Faults resolved", "已修复障碍"),
    "mttr_median_s": ("MTTR median", "平均修复时间(中位数)"),
    "mttr_p80_s": ("MTTR p80", "修复时间p80"),
    "mttr_p95_s": ("MTTR p95", "修复时间p95"),
    "on_site_within_30_min": ("On site ≤ 30 min", "30分钟内到场率"),
    "callback_done": ("Callback done", "回访完成率"),
    "installation_within_3_days": ("Installed ≤ 3 days", "3天内装机率"),
    "network_side_share": ("Network side", "网络侧占比"),
    "customer_side_share": ("Customer side", "用户侧占比"),
    "utilisation": ("Busy-hour utilisation", "忙时利用率"),
    "growth_per_year": ("Growth / year", "年增长率"),
    "days_to_exhaustion": ("Days to 80 %", "距80%天数"),
    "days_range": ("90 % range (days)", "90%区间(天)"),
    "item": ("Item", "项目"),
    "before": ("Yesterday", "昨日"),
    "after": ("Today", "今日"),
    "delta": ("Change", "变化"),
    "internal": ("internal", "内部"),
    "external": ("external", "外部"),
    "met": ("met", "达标"),
    "at_risk": ("at risk", "有风险"),
    "breached": ("breached", "未达标"),
    "new_outage": ("new outage", "新增中断"),
    "sla_status": ("SLA status", "SLA状态"),
    # KQI names
    "line_availability_ratio": ("Line availability", "线路可用率"),
    "stable_line_ratio": ("Stable-line ratio", "稳定线路比例"),
    "rate_attainment_ratio": ("Rate attainment", "速率达标率"),
    "uplink_congestion_share_ratio": ("Uplink congestion share", "上联拥塞占比"),
    "uplink_busy_hour_p95_utilisation_ratio": ("Uplink busy-hour p95", "上联忙时p95利用率"),
    "fault_reports_per_100_lines_month": ("Faults per 100 lines", "百线障碍数"),
    "repair_time_median_seconds": ("Repair time median", "修复时间中位数"),
    "repair_time_p80_seconds": ("Repair time p80", "修复时间p80"),
    "repair_time_p95_seconds": ("Repair time p95", "修复时间p95"),
    "on_site_within_30_min_ratio": ("On site within 30 min", "30分钟内到场率"),
    "callback_done_ratio": ("Callback done", "回访完成率"),
    "installation_within_3_days_ratio": ("Installation within 3 days", "3天内装机率"),
    # charts
    "chart_trend": ("Line availability and customer-minutes lost", "线路可用率与用户中断分钟数"),
    "chart_budget": ("Error budget left per target", "各目标剩余误差预算"),
    "chart_stability": ("Lines per stability class", "各稳定性分类线路数"),
    "chart_side": ("Fault tickets: network side vs customer side", "障碍工单:网络侧与用户侧"),
    "network_side": ("network side", "网络侧"),
    "customer_side": ("customer side", "用户侧"),
    "unknown_side": ("unclassified", "未分类"),
}

LABELS: Final[Mapping[Lang, Mapping[str, str]]] = MappingProxyType(
    {
        Lang.EN: MappingProxyType({k: v[0] for k, v in _TABLE.items()}),
        Lang.ZH_CN: MappingProxyType({k: v[1] for k, v in _TABLE.items()}),
    }
)


def label(key: str, lang: Lang | str) -> str:
    """The label of ``key`` in ``lang``; an unknown key is shown as itself (never an error)."""
    return LABELS[Lang(lang)].get(key, key)
