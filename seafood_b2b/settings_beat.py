"""The periodic schedule (Celery beat), imported by seafood_b2b/settings.py.

django-celery-beat copies it into the database, where admins can change it (the
DatabaseScheduler that beat runs with, Procfile).
"""

from celery.schedules import crontab

from seafood_b2b.env import env_int

# The one place the periodic schedule is defined; django-celery-beat copies it into the
# database, where admins can change it.
CELERY_BEAT_SCHEDULE = {
    "orders-expire-unpaid": {
        "task": "orders.tasks.orders_expire_unpaid",
        "schedule": float(env_int("ORDERS_EXPIRY_SWEEP_SECONDS", 60)),
    },
    "notifications-send-due": {
        "task": "notifications.tasks.notifications_send_due",
        "schedule": 60.0,
    },
    "refunds-retry-unfinished": {
        "task": "orders.tasks.refunds_retry_unfinished",
        "schedule": 300.0,
    },
    # WeCom customers moved at a handover: resend what is pending, read how the waiting ones went.
    "wecom-transfers-poll": {
        "task": "reps.tasks.wecom_transfers_poll_task",
        "schedule": 600.0,
    },
    # The company's customer tags mirrored to WeCom corp tags (only changes are sent).
    "wecom-tags-sync": {
        "task": "reps.tasks.wecom_tags_sync_task",
        "schedule": 900.0,
    },
    # Just after midnight: a price list whose dates start or end today (catalog.price_lists).
    "price-lists-refresh": {
        "task": "catalog.tasks.price_lists_refresh_task",
        "schedule": crontab(hour=0, minute=1),
    },
    "churn-sweep": {
        "task": "customers.tasks.churn_sweep_task",
        "schedule": crontab(hour=2, minute=0),
    },
    # After the churn sweep: the automatic tags (category shares, RFM) from the paid orders.
    "crm-auto-tags": {
        "task": "crm.tasks.auto_tags_task",
        "schedule": crontab(hour=2, minute=30),
    },
    # Lost items: after the churn sweep (usuals.lost).
    "usuals-lost-items": {
        "task": "usuals.tasks.lost_items_sweep_task",
        "schedule": crontab(hour=2, minute=20),
    },
    # Reminders before the cut-off: the task sends only in its window (usuals.reminders).
    "usuals-cutoff-reminders": {
        "task": "usuals.tasks.cutoff_reminders_task",
        "schedule": crontab(minute="*/10"),
    },
    "customer-stats-check": {
        "task": "customers.tasks.customer_stats_check",
        "schedule": crontab(hour=3, minute=45),
    },
    "inventory-value-snapshot": {
        "task": "logistics.tasks.inventory_value_snapshot_task",
        "schedule": crontab(hour=23, minute=55),
    },
    "stock-ledger-check": {
        "task": "logistics.tasks.stock_check_ledger",
        "schedule": crontab(hour=3, minute=30),
    },
    # A campaign left half sent (its task lost with the broker or a worker) is finished.
    "campaigns-resume": {
        "task": "campaigns.tasks.campaigns_resume_task",
        "schedule": 300.0,
    },
    # Overdue complaints to the managers; each complaint's own repeat interval is in 投诉规则.
    "complaints-escalate-overdue": {
        "task": "complaints.tasks.complaints_escalate_overdue",
        "schedule": 300.0,
    },
    # A few minutes after the order cut-off (下单规则, default 23:00): tomorrow's purchase tasks.
    "purchase-tasks-build": {
        "task": "logistics.tasks_purchasing.purchase_tasks_build_for_tomorrow",
        "schedule": crontab(hour=23, minute=5),
    },
}
