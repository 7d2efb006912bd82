"""A day's peak hour on the product, for locust (bench/load.py starts everything and runs this).

Who is on the line, in the proportions of the source story's distributor (DESIGN.md, numbers):
- restaurants (most users): open the shop, browse an aisle and a shelf, search, put a few
  products in the cart; some visits go on to check out and pay through the dev WeChat Pay (whose
  signed notification the Celery worker delivers, twice, as WeChat may), some of those ask
  (`/sync`) before the notification lands, and one order in five is left unpaid for the expiry
  sweep;
- reps: the assistant's feed poll every few seconds, its summary and customer list now and then;
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
import uuid

from locust import HttpUser, between, events, task

FIXTURE = json.loads(open(os.environ["LOAD_FIXTURE"]).read())
HOSTS = itertools.cycle(os.environ["LOAD_HOSTS"].split(","))
JOURNAL = open(os.environ["LOAD_JOURNAL"], "a", buffering=1)
SEARCHES = ["虾", "xr", "虾仁", "带鱼", "dy", "鱿鱼", "墨鱼", "扇贝"]
DELIVERY = {"restaurant_name": "压测餐厅", "contact_name": "王老板", "address": "深圳市福田区福华路 88 号",
            "district": "福田", "latitude": "22.541234", "longitude": "114.061234"}


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
            return  # left unpaid: the expiry sweep closes it
        csrf = self.client.cookies.get("csrftoken", "")
        paid = self.client.post(url("/wechat-dev/pay/confirm"), json=body["payment"], name="wechat-dev/pay/confirm",
                                headers={"X-CSRFToken": csrf})
        if paid.status_code == 200:
            journal("paid", order_id=body["order"]["id"])
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
