/*
 * The rep assistant: Alpine components over /api/v1/rep/… (the rep's Django session; writes
 * carry the CSRF token). The home page polls the order feed every few seconds with the newest
 * paid_at it has seen, so new orders of the rep's customers appear without a reload; when
 * something new arrives it also refreshes the figures and the customer list.
 */
(function () {
  'use strict';

  const BASE = '/api/v1/rep';
  const FEED_KEEP = 50; // orders kept on screen; older ones are in each customer's page
  const SUMMARY_REFRESH_MS = 30000;
  const MAX_BACKOFF_MS = 30000;

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function cookie(name) {
    const found = document.cookie.split('; ').find((row) => row.startsWith(name + '='));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : '';
  }

  function toLogin() {
    window.location.assign('/rep/login/?next=' + encodeURIComponent(window.location.pathname));
  }

  async function request(method, path, { params, body } = {}) {
    const query = params ? new URLSearchParams(params).toString() : '';
    const headers = { Accept: 'application/json' };
    const options = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['X-CSRFToken'] = cookie('csrftoken');
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(BASE + path + (query ? '?' + query : ''), options);
    } catch (e) {
      throw new ApiError(0, 'network', '网络不给力，请稍后重试');
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      /* an empty or non-JSON body: the status says enough */
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      // Signed out, or no longer a rep (left the company, handed over): back to the door.
      if (response.status === 401 || error.code === 'not_a_rep') {
        toLogin();
      }
      throw new ApiError(response.status, error.code || 'http_' + response.status, error.message || '服务暂时不可用，请稍后再试');
    }
    return data;
  }

  const api = {
    get: (path, params) => request('GET', path, { params }),
    post: (path, body) => request('POST', path, { body }),
  };

  // Shown in the company's time zone whatever the phone is set to ("11-23 14:05").
  const timeFormat = new Intl.DateTimeFormat('zh-CN', {
    timeZone: 'Asia/Shanghai', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
  });

  function formatTime(iso) {
    if (!iso) return '';
    const parts = Object.fromEntries(timeFormat.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
    return `${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
  }

  function customerUrl(id) {
    return '/rep/customers/' + id + '/';
  }

  async function copyText(text, fallbackInput) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) {
      // Plain http or an old WebView: select the text and use the legacy command.
      const input = fallbackInput || Object.assign(document.createElement('textarea'), { value: text });
      if (!fallbackInput) document.body.appendChild(input);
      input.select();
      let ok = false;
      try {
        ok = document.execCommand('copy');
      } catch (err) {
        ok = false;
      }
      if (!fallbackInput) input.remove();
      return ok;
    }
  }

  document.addEventListener('alpine:init', () => {
    Alpine.store('toast', {
      text: '',
      timer: null,
      show(text, ms = 2500) {
        this.text = text;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => { this.text = ''; }, ms);
      },
    });
    const toast = (text, ms) => Alpine.store('toast').show(text, ms);

    Alpine.data('repShare', (url) => ({
      copied: false,
      async copy() {
        const ok = await copyText(url, this.$refs.link);
        this.copied = ok;
        toast(ok ? '分享链接已复制，可粘贴到微信发给老板' : '复制失败，请长按链接手动复制');
        if (ok) setTimeout(() => { this.copied = false; }, 2000);
      },
    }));

    Alpine.data('repAssistant', (pollSeconds) => ({
      summary: null,
      feed: [],
      feedLoaded: false,
      feedError: false,
      latest: null, // newest paid_at seen, sent back as ?after=
      fresh: {}, // order id → arrived while the page was open
      customers: [],
      customerCount: null,
      customersNext: null,
      customersLoading: false,
      customersLoaded: false,
      customersError: '',
      pollTimer: null,
      failures: 0,

      formatTime,
      customerUrl,

      async init() {
        await Promise.all([this.loadSummary(), this.loadFeed(), this.loadCustomers()]);
        this.schedulePoll();
        this.summaryTimer = setInterval(() => this.loadSummary(), SUMMARY_REFRESH_MS);
        // A phone that was locked polls again as soon as it is looked at.
        document.addEventListener('visibilitychange', () => {
          if (!document.hidden) this.poll();
        });
      },

      destroy() {
        clearTimeout(this.pollTimer);
        clearInterval(this.summaryTimer);
      },

      entriesToday(kind) {
        return this.summary ? this.summary.entries_today[kind] : '–';
      },
      entriesWeek(kind) {
        return this.summary ? this.summary.entries_week[kind] : '–';
      },
      entriesTotal(key) {
        return this.summary ? Object.values(this.summary[key]).reduce((a, b) => a + b, 0) : '–';
      },

      isFresh(order) {
        return Boolean(this.fresh[order.id]);
      },

      async loadSummary() {
        try {
          this.summary = await api.get('/summary');
        } catch (error) {
          /* the figures keep their last values; the feed shows the connection state */
        }
      },

      async loadFeed() {
        try {
          const data = await api.get('/feed');
          this.feed = data.orders;
          this.latest = data.latest;
          this.feedError = false;
        } catch (error) {
          this.feedError = true;
        }
        this.feedLoaded = true;
      },

      schedulePoll() {
        clearTimeout(this.pollTimer);
        // Back off while the server or the network is down, up to 30 s.
        const delay = Math.min(pollSeconds * 1000 * 2 ** this.failures, MAX_BACKOFF_MS);
        this.pollTimer = setTimeout(() => this.poll(), delay);
      },

      async poll() {
        clearTimeout(this.pollTimer);
        if (this.polling) return;
        this.polling = true;
        try {
          const data = await api.get('/feed', this.latest ? { after: this.latest } : {});
          this.failures = 0;
          this.feedError = false;
          if (data.orders.length) this.receive(data);
        } catch (error) {
          this.failures = Math.min(this.failures + 1, 4);
          this.feedError = true;
        } finally {
          this.polling = false;
          this.feedLoaded = true;
          this.schedulePoll();
        }
      },

      receive(data) {
        const known = new Set(this.feed.map((order) => order.id));
        const arrived = data.orders.filter((order) => !known.has(order.id));
        if (!arrived.length) return;
        arrived.forEach((order) => { this.fresh[order.id] = true; });
        this.feed = [...arrived, ...this.feed].slice(0, FEED_KEEP);
        this.latest = data.latest;
        const first = arrived[0];
        toast(arrived.length === 1 ? `新订单：${first.restaurant_name} ¥${first.total}` : `${arrived.length} 笔新订单`, 4000);
        // The order may come from a customer made a moment ago, and it changes the figures.
        this.loadSummary();
        this.refreshCustomers();
      },

      async loadCustomers() {
        this.customersLoading = true;
        this.customersError = '';
        try {
          const data = await api.get('/customers', { page: 1 });
          this.customers = data.results;
          this.customerCount = data.count;
          this.customersNext = data.next ? 2 : null;
        } catch (error) {
          this.customersError = error.message;
        } finally {
          this.customersLoading = false;
          this.customersLoaded = true;
        }
      },

      // Page 1 again, merged in front of what is loaded, so "load more" progress is kept.
      async refreshCustomers() {
        try {
          const data = await api.get('/customers', { page: 1 });
          const fresh = new Set(data.results.map((customer) => customer.id));
          this.customers = [...data.results, ...this.customers.filter((customer) => !fresh.has(customer.id))];
          this.customerCount = data.count;
          if (this.customersNext === null && data.next) this.customersNext = 2;
        } catch (error) {
          /* the next order will try again */
        }
      },

      async loadMoreCustomers() {
        if (!this.customersNext || this.customersLoading) return;
        this.customersLoading = true;
        try {
          const data = await api.get('/customers', { page: this.customersNext });
          const known = new Set(this.customers.map((customer) => customer.id));
          this.customers.push(...data.results.filter((customer) => !known.has(customer.id)));
          this.customerCount = data.count;
          this.customersNext = data.next ? this.customersNext + 1 : null;
        } catch (error) {
          toast(error.message);
        } finally {
          this.customersLoading = false;
        }
      },
    }));

    Alpine.data('repCustomer', (customerId, repName) => ({
      customer: null,
      orders: [],
      notes: [],
      loading: true,
      error: '',
      noteText: '',
      noteError: '',
      withLocation: Boolean(navigator.geolocation),
      locationStatus: '',
      saving: false,

      formatTime,

      async init() {
        try {
          const data = await api.get('/customers/' + customerId);
          this.customer = data.customer;
          this.orders = data.orders;
          this.notes = data.notes;
        } catch (error) {
          this.error = error.message;
        } finally {
          this.loading = false;
        }
      },

      // Where the rep stands, if the phone allows; a note is never lost for want of a fix.
      position() {
        if (!this.withLocation || !navigator.geolocation) return Promise.resolve(null);
        this.locationStatus = '正在定位…';
        return new Promise((resolve) => {
          navigator.geolocation.getCurrentPosition(
            (pos) => {
              this.locationStatus = '已获取位置';
              resolve({ latitude: pos.coords.latitude.toFixed(6), longitude: pos.coords.longitude.toFixed(6) });
            },
            () => {
              this.locationStatus = '未能获取位置，仅保存文字';
              resolve(null);
            },
            { enableHighAccuracy: true, timeout: 8000, maximumAge: 60000 },
          );
        });
      },

      async addNote() {
        const text = this.noteText.trim();
        if (!text || this.saving) return;
        this.saving = true;
        this.noteError = '';
        try {
          const where = await this.position();
          const saved = await api.post('/customers/' + customerId + '/notes', { note: text, ...(where || {}) });
          this.notes.unshift({
            id: saved.id, note: saved.note, created_at: saved.created_at, rep: repName,
            latitude: where ? where.latitude : null, longitude: where ? where.longitude : null,
          });
          this.noteText = '';
          toast('拜访记录已保存');
        } catch (error) {
          this.noteError = error.message;
        } finally {
          this.saving = false;
        }
      },
    }));
  });
})();
