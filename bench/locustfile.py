"""A day's peak hour on the product, for locust (bench/load.py starts everything and runs this).

Who is on the line, in the proportions of the source story's distributor (DESIGN.md, numbers):
- restaurants (most users): open the shop, browse an aisle and a shelf, search, put a few
  products in the cart; some visits go on to check out and pay through the dev WeChat Pay (whose
  signed notification the Celery worker delivers, twice, as WeChat may), some of those ask
  (`/sync`) before the notification lands, and one order in five is left unpaid for the expiry
  sweep;
- WeChat Pay: besides the notifications the dev WeChat Pay sends (twice) when a restaurant pays,
  late ones: a notification for an order paid a while ago, signed and encrypted as WeChat Pay's
  v3 notifications are (wechat.pay.crypto.build_notification), sent again as WeChat Pay retries
  for hours; each must be answered 204 and change nothing;
- reps: the assistant's feed poll every few seconds, its summary and customer list now and then;
- delivery drivers (送货司机): the phone's run page, 出发 once, then each stop in turn: its page,
  and 确认送达 with a real JPEG taken now (EXIF time), who signed or where it was left, and where
  the phone was (near the customer's pin);
- the warehouse: purchasing drivers' task lists, the clerks' packing list and scanner lookups;
- staff: admin's order and stock lists.

Every request goes to the next web process in turn (LOAD_HOSTS, comma-separated): the round-robin
client of two web processes. The fixture (LOAD_FIXTURE, JSON written by bench/load.py) holds the
restaurants' visitor tokens, the reps' feed tokens and sessions, the staff session and the
catalogue's aisles and shelves. Each order placed and each payment confirmed is appended to
LOAD_JOURNAL, so the runner can check afterwards that none was lost or doubled.
"""

import itertools
import json
import os
import random
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from io import BytesIO

from locust import HttpUser, between, events, task

FIXTURE = json.loads(open(os.environ["LOAD_FIXTURE"]).read())
HOSTS = itertools.cycle(os.environ["LOAD_HOSTS"].split(","))
JOURNAL = open(os.environ["LOAD_JOURNAL"], "a", buffering=1)
SEARCHES = ["虾", "xr", "虾仁", "带鱼", "dy", "鱿鱼", "墨鱼", "扇贝"]
DELIVERY = {"restaurant_name": "压测餐厅", "contact_name": "王老板", "address": "深圳市福田区福华路 88 号",
            "district": "福田", "latitude": "22.541234", "longitude": "114.061234"}


SHANGHAI = timezone(timedelta(hours=8))
PAID: list[tuple[float, str]] = []  # (when, order number) of payments confirmed, for late notifications
DRIVER_TURN = itertools.count()
SIGNERS = ["王老板", "李师傅", "厨师长", "前台小张", "老板娘"]
PLACES = ["后门冷库旁", "厨房门口", "前台", "仓库货架下层"]


def url(path: str) -> str:
    return next(HOSTS) + path


def journal(kind: str, **fields) -> None:
    JOURNAL.write(json.dumps({"kind": kind, **fields}) + "\n")


class Restaurant(HttpUser):
    weight = 20
    wait_time = between(0.5, 2.0)
    host = "http://load"  # every request names its own web process

    def on_start(self):
        self.visitor = random.choice(FIXTURE["visitors"])
        self.auth = {"Authorization": f"Visitor {self.visitor['token']}"}
        self.client.get(url("/shop/"), name="/shop/")  # the page, and its CSRF cookie

    def _get(self, path, name):
        return self.client.get(url(path), headers=self.auth, name=name)

    @task(6)
    def browse(self):
        aisle = random.choice(FIXTURE["aisles"])
        first = self._get(f"/api/v1/catalog/products?category={aisle}", "products?category=aisle")
        if first.status_code == 200 and first.json().get("next"):
            self._get(f"/api/v1/catalog/products?category={aisle}&page=2", "products?category=aisle&page=2")
        self._get(f"/api/v1/catalog/products?category={random.choice(FIXTURE['shelves'])}",
                  "products?category=shelf")
        self._get("/api/v1/cart", "cart")

    @task(3)
    def search(self):
        self._get(f"/api/v1/catalog/products?q={random.choice(SEARCHES)}", "products?q=")

    @task(2)
    def order(self):
        listing = self._get(f"/api/v1/catalog/products?category={random.choice(FIXTURE['shelves'])}",
                            "products?category=shelf")
        if listing.status_code != 200:
            return
        choices = [row for row in listing.json()["results"] if row["in_stock"]]
        for row in random.sample(choices, min(4, len(choices))):
            quantity = str(max(float(row["min_quantity"]), 5 * float(row["step_quantity"])))
            with self.client.post(url("/api/v1/cart/lines"), json={"product": row["id"], "quantity": quantity},
                                  headers=self.auth, name="cart/lines", catch_response=True) as added:
                if added.status_code in (400, 409):  # sold out meanwhile: a refusal, not a failure
                    added.success()
        key = uuid.uuid4().hex
        journal("attempt", key=key)  # before sending: an order may exist whose answer never arrived
        with self.client.post(url("/api/v1/orders"), json=dict(DELIVERY, idempotency_key=key), headers=self.auth,
                              name="orders (checkout)", catch_response=True) as placed:
            if placed.status_code in (400, 409):  # below the minimum, out of stock: a refusal, not a failure
                placed.success()
                return
            if placed.status_code != 201:
                return
        body = placed.json()
        journal("order", order_id=body["order"]["id"], key=key)
        if random.random() < 0.2:
            journal("unpaid", order_id=body["order"]["id"])
            return  # left unpaid: the expiry sweep closes it
        csrf = self.client.cookies.get("csrftoken", "")
        paid = self.client.post(url("/wechat-dev/pay/confirm"), json=body["payment"], name="wechat-dev/pay/confirm",
                                headers={"X-CSRFToken": csrf})
        if paid.status_code == 200:
            journal("paid", order_id=body["order"]["id"])
            PAID.append((time.monotonic(), body["order"]["number"]))
            if random.random() < 0.5:  # the page asks before the notification lands
                self.client.post(url(f"/api/v1/orders/{body['order']['id']}/sync"), headers=self.auth,
                                 name="orders/{id}/sync")


class Rep(HttpUser):
    weight = 3
    wait_time = between(2.0, 4.0)
    host = "http://load"

    def on_start(self):
        self.rep = random.choice(FIXTURE["reps"])
        self.client.cookies.set("sessionid", self.rep["session"])
        self.after = ""

    @task(8)
    def poll(self):
        params = f"?after={self.after}" if self.after else ""
        response = self.client.get(url(f"/api/v1/rep/feed/poll{params}"), name="rep/feed/poll",
                                   headers={"X-Feed-Token": self.rep["feed_token"]})
        if response.status_code == 200:
            self.after = response.json().get("latest") or self.after

    @task(1)
    def open_assistant(self):
        self.client.get(url("/api/v1/rep/summary"), name="rep/summary")
        self.client.get(url("/api/v1/rep/customers"), name="rep/customers")


class WeChatPay(HttpUser):
    """WeChat Pay's retries: a notification for a payment settled at least 15 s ago (WeChat Pay's
    first retry interval), built as WeChat Pay builds it: the transaction as the dev WeChat Pay
    holds it, AES-256-GCM with the APIv3 key, a fresh timestamp and nonce, signed with the
    platform key. The product answers 204 and changes nothing (the runner checks one settlement)."""

    weight = 1
    wait_time = between(2.0, 5.0)
    host = "http://load"

    def on_start(self):
        import django

        django.setup()
        from django.conf import settings

        from wechat.backends.dev_pay import dev_transaction_resource
        from wechat.pay import crypto, keys

        self.resource_of, self.crypto, self.keys = dev_transaction_resource, crypto, keys
        self.apiv3_key = settings.WECHATPAY_APIV3_KEY

    @task
    def late_notification(self):
        settled = [number for when, number in PAID if time.monotonic() - when > 15]
        if not settled:
            return
        resource = self.resource_of(random.choice(settled))
        if resource is None or resource.get("trade_state") != "SUCCESS":
            return
        headers, body = self.crypto.build_notification(
            event_type="TRANSACTION.SUCCESS", resource=resource, platform_key=self.keys.dev_platform_private_key(),
            serial=self.keys.DEV_PLATFORM_KEY_ID, apiv3_key=self.apiv3_key, summary="支付成功")
        with self.client.post(url("/payments/wechatpay/notify"), data=body, headers=headers,
                              name="wechatpay/notify (late)", catch_response=True) as answer:
            if answer.status_code != 204:
                answer.failure(f"late notification answered {answer.status_code}")
            else:
                journal("late_notify", number=resource["out_trade_no"])


def proof_photo() -> bytes:
    """A real JPEG as a phone camera writes it: taken now (EXIF DateTimeOriginal, local time)."""
    from PIL import Image

    image = Image.new("RGB", (320, 240), tuple(random.randrange(256) for _ in range(3)))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = datetime.now(SHANGHAI).strftime("%Y:%m:%d %H:%M:%S")
    exif.get_ifd(0x8769)[36881] = "+08:00"
    buffer = BytesIO()
    image.save(buffer, "JPEG", quality=80, exif=exif.tobytes())
    return buffer.getvalue()


class DeliveryDriver(HttpUser):
    """A delivery driver's phone: one driver per simulated user (bench/load.py routed their run)."""

    weight = 2
    wait_time = between(8.0, 20.0)  # driving to the next door
    host = "http://load"

    def on_start(self):
        self.me = FIXTURE["drivers"][next(DRIVER_TURN) % len(FIXTURE["drivers"])]
        self.client.cookies.set("sessionid", self.me["session"])

    def _csrf(self) -> str:
        return self.client.cookies.get("csrftoken", "")

    @task
    def next_stop(self):
        page = self.client.get(url("/ops/delivery/run.json"), name="ops/delivery/run.json")
        run = page.json().get("run") if page.status_code == 200 else None
        if not run:
            return
        if run["status"] == "planned":
            self.client.get(url("/ops/delivery/"), name="ops/delivery/ (run page)")  # and its CSRF cookie
            with self.client.post(url(f"/ops/delivery/runs/{run['id']}/start/"), data={"csrfmiddlewaretoken": self._csrf()},
                                  name="ops/delivery/runs/{id}/start", allow_redirects=False,
                                  catch_response=True) as started:
                if started.status_code != 302:
                    started.failure(f"出发 answered {started.status_code}")
            return
        pending = [stop for stop in run["stops"] if stop["status"] == "pending"]
        if not pending:
            return
        stop = pending[0]
        self.client.get(url(f"/ops/delivery/stops/{stop['id']}/"), name="ops/delivery/stops/{id}")
        form = {"csrfmiddlewaretoken": self._csrf()}
        if random.random() < 0.8:
            form.update(proof_kind="signed", signed_by=random.choice(SIGNERS))
        else:
            form.update(proof_kind="left", left_at=random.choice(PLACES))
        pin = re.search(r"position=([0-9.]+)%2C([0-9.]+)", stop["navigation_url"])
        if pin:  # the phone stands at the door, a few metres from the pin (GCJ-02, as wx.getLocation gives)
            form.update(longitude=f"{float(pin.group(1)) + random.uniform(-0.0002, 0.0002):.6f}",
                        latitude=f"{float(pin.group(2)) + random.uniform(-0.0002, 0.0002):.6f}",
                        coordinate_system="gcj02")
        with self.client.post(url(f"/ops/delivery/stops/{stop['id']}/complete/"), data=form,
                              files={"photo": ("proof.jpg", proof_photo(), "image/jpeg")},
                              name="ops/delivery/stops/{id}/complete (photo)", allow_redirects=False,
                              catch_response=True) as done:
            if done.status_code == 302:
                journal("delivered", stop_id=stop["id"])
            else:
                done.failure(f"确认送达 answered {done.status_code}")


class Warehouse(HttpUser):
    """Purchasing drivers opening today's and tomorrow's tasks; a clerk's packing list and scanner."""

    weight = 1
    wait_time = between(4.0, 10.0)
    host = "http://load"

    @task(2)
    def purchasing(self):
        self.client.cookies.set("sessionid", random.choice(FIXTURE["purchasing_sessions"]))
        self.client.get(url("/ops/purchasing/"), name="ops/purchasing/ (tasks)")
        if FIXTURE["purchase_tasks"]:
            with self.client.get(url(f"/ops/purchasing/{random.choice(FIXTURE['purchase_tasks'])}/"),
                                 name="ops/purchasing/{id}", catch_response=True) as page:
                if page.status_code == 404:  # another driver's task: "not found" is the right answer
                    page.success()

    @task(1)
    def packing(self):
        self.client.cookies.set("sessionid", FIXTURE["clerk_session"])
        self.client.get(url("/ops/packing/"), name="ops/packing/ (list)")
        self.client.get(url(f"/ops/receiving/lookup?code={random.choice(FIXTURE['product_codes'])}"),
                        name="ops/receiving/lookup")


class Staff(HttpUser):
    weight = 1
    wait_time = between(3.0, 8.0)
    host = "http://load"

    def on_start(self):
        self.client.cookies.set("sessionid", FIXTURE["staff_session"])

    @task
    def lists(self):
        self.client.get(url("/admin/orders/order/"), name="admin orders")
        self.client.get(url("/admin/logistics/stock/"), name="admin stock")


@events.quitting.add_listener
def _close_journal(environment, **_):
    JOURNAL.close()
