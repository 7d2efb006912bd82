# Two commands matter: `make run` (the product on SQLite with demo data: web, Celery worker and beat
# under honcho, Procfile.dev) and `make test`
# (the whole suite against PostgreSQL and Redis on 127.0.0.1). Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/seafood
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.PHONY: run serve test load load-quick deps migrate seed worker beat bench bench-rep bench-catalog bench-checkout bench-churn bench-crm bench-dispatch bench-usuals bench-lost-items bench-campaigns clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.installed node_modules/.installed

migrate: deps
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --if-empty --history-months 2

run: seed
	@echo ""
	@$(PY) manage.py demo_links --host $(HOST):$(PORT)
	@echo ""
	@echo "  同时运行：web、Celery worker 与 beat（周期任务：超时未付款订单取消并释放库存、流失扫描、采购汇总、通知重发…），"
	@echo "  消息经 var/celery/ 下的文件传递，无需 Redis。Ctrl-C 全部停止。"
	@echo ""
	CELERY_BROKER_URL=filesystem:// WEB_ADDRESS=$(HOST):$(PORT) $(VENV)/bin/honcho -f Procfile.dev start

# The production processes (Procfile: gunicorn, Celery worker with acks late, beat) on this machine
# against PostgreSQL and Redis: migrations, collectstatic, then honcho. Not ENVIRONMENT=production
# (that needs the real WeChat settings); set it and them to run exactly as deployed.
SERVE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/seafood
SERVE_REDIS_URL ?= redis://127.0.0.1:6379/0
serve: deps
	export DATABASE_URL=$${DATABASE_URL:-$(SERVE_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(SERVE_REDIS_URL)} \
		WEB_BIND=$${WEB_BIND:-$(HOST):$(PORT)} PATH=$(CURDIR)/$(VENV)/bin:$$PATH && \
	$(PY) manage.py migrate --noinput && $(PY) manage.py collectstatic --noinput -v 0 && \
	$(VENV)/bin/honcho -f Procfile start

test: deps
	DJANGO_SETTINGS_MODULE=seafood_b2b.settings_test DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(VENV)/bin/pytest $(PYTEST_ARGS)

worker: deps
	$(VENV)/bin/celery -A seafood_b2b worker -l info

beat: deps
	$(VENV)/bin/celery -A seafood_b2b beat -l info

bench-catalog: deps
	$(PY) bench/catalog.py $(BENCH_ARGS)

bench-rep: deps
	$(PY) bench/rep_dashboard.py $(BENCH_REP_ARGS)

bench-checkout: deps
	$(PY) bench/checkout.py $(BENCH_CHECKOUT_ARGS)

# 500,000 customers and ~10M orders in their own database (seafood_bench_churn), generated once
# and reused; CHURN_ARGS="--customers 50000" for a quick look (bench/README.md).
bench-churn: deps
	$(PY) bench/churn_sweep.py --reuse $(CHURN_ARGS)

# Nightly automatic tags vs the raw SQL of their rules, and segment counts, on 500,000 customers /
# ~10M orders in their own database (seafood_bench_crm); CRM_ARGS="--customers 50000" for a quick run.
bench-crm: deps
	$(PY) bench/crm_segments.py --reuse $(CRM_ARGS)

# 1,000 stops and 10 drivers in memory: OR-Tools against nearest neighbour (bench/README.md).
bench-dispatch: deps
	$(PY) bench/dispatch.py $(DISPATCH_ARGS)

# The whole product under a day's peak at 10x (bench/load.py): two web processes, two workers and
# beat on a fresh database `seafood_load`; invariants checked afterwards (exit 1 if any fails).
load: deps
	$(PY) bench/load.py --report bench/LOAD.md $(LOAD_ARGS)

# The same for 60 s on a small seed: what CI runs after the tests.
load-quick: deps
	$(PY) bench/load.py --quick $(LOAD_ARGS)

# 我的常购: GET /api/v1/usuals against /healthz under gunicorn (its own database, seafood_bench_usuals).
bench-usuals: deps
	$(PY) bench/usual_list.py $(USUALS_ARGS)

# The lost-item sweep against a raw SQL aggregate of its rule: 500,000 customers / ~10M orders with
# their lines (seafood_bench_lost, generated once and reused); LOST_ARGS="--customers 50000" for a quick run.
bench-lost-items: deps
	$(PY) bench/lost_items.py --reuse $(LOST_ARGS)

# A rep-task campaign with a coupon to 50,000 customers (its own database, seafood_bench_campaigns).
bench-campaigns: deps
	$(PY) bench/campaign_send.py $(CAMPAIGN_ARGS)

# Every benchmark of bench/run_all.py (its BENCHES list) into one table, bench/RESULTS.md.
# BENCH_QUICK=1: small data and short windows; BENCH_ONLY="catalog rep": some of them;
# BENCH_X100=postgres://…/bench_x100: churn, CRM and lost items on the 100× demo database (--no-seed).
bench: deps
	$(PY) bench/run_all.py $(if $(BENCH_QUICK),--quick) $(foreach b,$(BENCH_ONLY),--only $(b))

clean:
	rm -rf $(VENV) node_modules db.sqlite3 test-artifacts
