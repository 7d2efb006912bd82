"""The one order in which the platform locks rows. Two transactions that take locks in the same
order can wait for each other but never deadlock, so every transaction that locks rows of more
than one table takes them in the order below (skipping what it does not need), and rows of one
table in primary-key order (stock rows in product order).

A row is locked by `select_for_update()` / `FOR UPDATE`, and just as much by an UPDATE of it: an
UPDATE counts here too (checkout's UPDATE of the restaurant's delivery details comes after its
stock rows, so Customer comes after Stock). tests/core/test_lock_order.py runs each flow that
locks several tables and checks the statements it sends against this order.

Who locks what, in order:
- the nightly churn sweep: ChurnSettings (NOWAIT: one sweep at a time), then customers;
- the nightly automatic tags: AutoTagSettings (NOWAIT), then the whole CustomerSpend table (TRUNCATE;
  segment counts wait for the commit); it writes tag rows and locks no customer;
- a customer's manual tags (admin, a rep): the Customer;
- rep handover: both Reps, then their Customers; a rep's login: the Rep;
- phone binding, entries and checkout: the Visitor (checkout NOWAIT first, then waiting), then the
  basket's Stock rows, then the Customer's delivery details; a binding that creates a restaurant
  issues the new-customer coupon after its Visitor (the CouponTemplate, as any issue);
- dispatch: Drivers, their DeliveryRuns, then the Orders they take; delivery: the DeliveryRun or
  the Stop, then its Orders; suspending a driver: the Driver, their runs' Stops, their open
  PurchaseTasks, then the login's User (last); releasing a suspended driver's stop for reassignment: the DeliveryRun, the Stop,
  then its Order;
- purchasing: the PurchaseTask;
- issuing coupons: the CouponTemplate (one issue of a template at a time: the per-customer limit),
  then its CouponIssue when a campaign adds a batch to its issue;
- a campaign's send, batch by batch: the Campaign (one sender at a time), the customers' MonthlyContact
  counters (the cap: one INSERT … ON CONFLICT DO UPDATE in customer order), the CouponTemplate
  (issuing), then the CampaignRecipient rows; a rep marking a task sent and a customer opening their
  link: that CampaignRecipient alone;
- payment settlement: the Order, its Payment, then the Customer's ordering rhythm, then the
  restaurant's WelcomeDue (a welcome still owed is released: crm.welcome); cancelling or
  expiring an unpaid order and packing: the Order, then its Stock rows; a customer cancelling or
  reducing a paid order before the cut-off: the Order, its lines, then its Stock rows (its refund
  is a new row under the order's lock); cancelling an unpaid one then closes its Payment and gives
  its coupon back (its CouponRedemption);
- a refund's result (a REFUND.* notification, or refund_submit's query): the Order, then its Refund;
- after-sales (a customer's request, staff decisions, goodwill refunds): the Order, then its
  AfterSalesRequest, then the request's lines, then (goods returned) the Stock rows;
- complaints (a reply, an owner change, an escalation round): the Complaint alone;
- the cart: the CartLine alone; the dev WeChat Pay simulator: its own transaction row alone;
- WeCom: a callback or a finished transfer locks the WeComTransfer rows, then the WeComContact;
  phone binding updates the WeComContacts it links after its Visitor and Customer.
- subscribe-message consent: the SubscribeConsent row alone (recorded, or spent by the outbox
  outside any other transaction); an acceptance of `welcome` then releases the restaurant's
  WelcomeDue in a transaction of its own.

Checkout's use of a coupon locks nothing: it inserts the CouponRedemption last in its write, and
the unique index on held redemptions makes a second checkout with the same coupon wait for the
first to commit and then fail (it holds its own visitor and stock rows, which the first never waits
for, so no cycle).

An order's own rows (its lines, its Payment, its Refunds, its CouponRedemption, its after-sales requests and their lines) are locked only by a transaction that already
holds the Order's lock (GUARDED_BY): two such transactions queue on the order, so where those rows
come among the order's other locks does not matter (expiry closes the payment after releasing
the stock; settlement locks it before the restaurant).
"""

LOCK_ORDER = (
    "customers.ChurnSettings",
    "crm.AutoTagSettings",
    "reps.Rep",
    "customers.Visitor",
    "logistics.Driver",
    "logistics.DeliveryRun",
    "logistics.Stop",
    "logistics.PurchaseTask",
    "campaigns.Campaign",
    "campaigns.MonthlyContact",
    "coupons.CouponTemplate",
    "coupons.CouponIssue",
    "campaigns.CampaignRecipient",
    "orders.Order",
    "orders.OrderLine",
    "orders.Payment",
    "orders.Refund",
    "coupons.CouponRedemption",
    "aftersales.AfterSalesRequest",
    "aftersales.AfterSalesLine",
    "logistics.Stock",
    "customers.Customer",
    "crm.WelcomeDue",
    "reps.WeComTransfer",
    "reps.WeComContact",
    "orders.PaymentNotification",
    "complaints.Complaint",
    "catalog.CartLine",
    "wechat.DevPayTransaction",
    # A staff login's row, deactivated after the rep's or driver's rows that stand for it.
    "auth.User",
    "notifications.SubscribeConsent",
)

GUARDED_BY = {"orders.OrderLine": "orders.Order", "orders.Payment": "orders.Order", "orders.Refund": "orders.Order",
              "coupons.CouponRedemption": "orders.Order", "coupons.CouponIssue": "coupons.CouponTemplate",
              "aftersales.AfterSalesRequest": "orders.Order", "aftersales.AfterSalesLine": "orders.Order"}


def lock_rank(label: str) -> int:
    """The place of a model ("app_label.ModelName") in LOCK_ORDER."""
    return LOCK_ORDER.index(label)
