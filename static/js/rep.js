/*
 * The rep assistant: Alpine components over /api/v1/rep/… (the rep's Django session; writes
 * carry the CSRF token from the csrftoken cookie). The home page is the same shell for every rep:
 * it asks /api/v1/rep/me who the rep is (name, code, share link, the feed's token), and an API
 * answering 401/403 sends the browser to the rep login. It polls the order feed every few seconds
 * with the newest paid_at it has seen, so new orders of the rep's customers appear without a
 * reload; when something new arrives it also refreshes the figures and the customer list.
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

  let leaving = false;

  function toLogin() {
    if (leaving) return; // several requests may be refused at once
    leaving = true;
    const here = window.location.pathname + window.location.search + window.location.hash;
    window.location.assign('/rep/login/?next=' + encodeURIComponent(here));
  }

  // The feed poll's signed token, from /api/v1/rep/me; fetched again when it has run out.
  let currentFeedToken = '';
  let pendingMe = null;

  async function request(method, path, { params, body, feedToken } = {}) {
    const query = params ? new URLSearchParams(params).toString() : '';
    const headers = { Accept: 'application/json' };
    if (feedToken) headers['X-Feed-Token'] = feedToken;
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
      // An expired feed token (they last a few hours) is not a signed-out rep: the page asks
      // /me for a new one. Anything else refused means signed out or no longer a rep.
      if (error.code !== 'feed_token_invalid' && (response.status === 401 || error.code === 'not_a_rep')) {
        // Signed out, or no longer a rep (left the company, handed over): back to the door.
        toLogin();
      }
      throw new ApiError(response.status, error.code || 'http_' + response.status, error.message || '服务暂时不可用，请稍后再试');
    }
    return data;
  }

  // The signed token serves the page's own reads too (summary, customers, inbox): no session
  // read or user lookup on requests made at every open and every 30 s. One that has run out is
  // replaced from /me and the same request sent again.
  async function withFeedToken(path, params) {
    if (!currentFeedToken) await api.me();
    try {
      return await request('GET', path, { params, feedToken: currentFeedToken });
    } catch (error) {
      if (error.code !== 'feed_token_invalid') throw error;
      await api.me();
      return request('GET', path, { params, feedToken: currentFeedToken });
    }
  }

  const TOKEN_READS = new Set(['/summary', '/customers', '/inbox', '/feed/poll']);

  const api = {
    get: (path, params) => (TOKEN_READS.has(path) ? withFeedToken(path, params) : request('GET', path, { params })),
    post: (path, body) => request('POST', path, { body }),
    put: (path, body) => request('PUT', path, { body }),
    // Who the rep is, and a fresh feed token. Calls made while one is on its way share it (the
    // page's first reads all need the token at once).
    async me() {
      if (!pendingMe) pendingMe = request('GET', '/me').finally(() => { pendingMe = null; });
      const data = await pendingMe;
      currentFeedToken = data.feed_token;
      return data;
    },
    // The feed poll (/api/v1/rep/feed/poll) carries the signed token /me handed out: no session
    // or user lookup on a request made every few seconds. Tokens last a few hours: one that has
    // run out is replaced from /me and the same poll sent again, without reloading the page.
    feed: (params) => withFeedToken('/feed/poll', params),
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

  const dateFormat = new Intl.DateTimeFormat('zh-CN', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  });

  // "2026-10-12", the company's calendar day.
  function formatDate(iso) {
    if (!iso) return '';
    const parts = Object.fromEntries(dateFormat.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
    return `${parts.year}-${parts.month}-${parts.day}`;
  }

  // Whole Shanghai calendar days between that moment and today.
  function daysSince(iso) {
    const day = (value) => Date.parse(formatDate(value) + 'T00:00:00Z');
    return Math.max(0, Math.round((day(new Date()) - day(iso)) / 86400000));
  }

  // "850 m" under a kilometre, "1.2 km" from there.
  function formatDistance(km) {
    const metres = Math.round(km * 1000);
    return metres < 1000 ? `${metres} m` : `${(km).toFixed(1)} km`;
  }

  const STATUS_LABELS = { churned: '已流失', at_risk: '预警' };

  // AutoNavi's URI API opens the Amap app (or its web page) with a pin; coordinate=gaode says
  // the position is GCJ-02, which is what we store (docs/wechat.md, Location).
  function navUrl(customer) {
    const params = new URLSearchParams({
      position: `${customer.longitude},${customer.latitude}`, name: customer.name,
      src: 'seafood_b2b', coordinate: 'gaode', callnative: '1',
    });
    return 'https://uri.amap.com/marker?' + params.toString().replace('%2C', ',');
  }

  /*
   * Where the rep stands: navigator.geolocation, which answers in WGS-84 (the phone's GPS). Our
   * customers' pins are GCJ-02, about 550 m away in Shenzhen, so the fix is sent with
   * coordinate_system=wgs84 and the server converts it (core.geo) before measuring distances; the
   * nearby list answers with the converted centre (`origin`), which is where the map puts 我在这里.
   */
  function locateWgs84() {
    return new Promise((resolve, reject) => {
      if (!navigator.geolocation) {
        reject(new Error('unsupported'));
        return;
      }
      navigator.geolocation.getCurrentPosition(
        (pos) => resolve({ latitude: pos.coords.latitude, longitude: pos.coords.longitude, accuracy: pos.coords.accuracy }),
        (error) => reject(error),
        { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 },
      );
    });
  }

  function locationProblem(error) {
    if (error && error.message === 'unsupported') return '此浏览器不能定位，请在微信或手机浏览器中打开';
    if (error && error.code === 1) return '没有定位权限：请在手机设置中允许微信（或浏览器）使用位置信息，然后重新定位';
    if (error && error.code === 3) return '定位超时：请到开阔处或打开 GPS 后重新定位';
    return '暂时无法获取位置，请稍后重新定位';
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
      // copy(text): the assistant passes the link it got from /api/v1/rep/me.
      async copy(text) {
        const ok = await copyText(text || url, this.$refs.link);
        this.copied = ok;
        toast(ok ? '分享链接已复制，可粘贴到微信发给老板' : '复制失败，请长按链接手动复制');
        if (ok) setTimeout(() => { this.copied = false; }, 2000);
      },
    }));

    Alpine.data('repAssistant', (pollSeconds) => ({
      me: null, // /api/v1/rep/me: the rep, their code's URLs and the feed token
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

      csrfToken() {
        return cookie('csrftoken');
      },

      async init() {
        // The feed needs the token /me hands out; the figures and the customers need nothing.
        await Promise.all([this.loadMe().then(() => this.loadFeed()), this.loadSummary(), this.loadCustomers()]);
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

      async loadMe() {
        try {
          this.me = await api.me();
        } catch (error) {
          /* signed out: already on the way to the login; offline: the feed's next poll asks again */
        }
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
          const data = await api.feed();
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
          if (!this.me) await this.loadMe(); // the page opened offline
          const data = await api.feed(this.latest ? { after: this.latest } : {});
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

    Alpine.data('repCustomer', (customerId, repName, highlightId = '') => ({
      customer: null,
      orders: [],
      highlightId, // the order a churn alert points at (?order=<id>)
      notes: [],
      loading: true,
      error: '',
      noteText: '',
      noteError: '',
      withLocation: Boolean(navigator.geolocation),
      locationStatus: '',
      saving: false,
      tags: [], // the customer's tags, manual and automatic
      tagGroups: [], // the manual groups a rep may pick from
      editingTags: false,
      picked: [],
      tagError: '',
      savingTags: false,

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
        if (!this.error) this.loadTags();
        if (this.highlighted) {
          await this.$nextTick();
          this.scrollToHighlight();
        }
      },

      async loadTags() {
        try {
          this.showTags(await api.get('/customers/' + customerId + '/tags'));
        } catch (error) {
          this.tagError = error.message;
        }
      },

      showTags(data) {
        this.tags = data.tags;
        this.tagGroups = data.groups;
        this.picked = data.tags.filter((tag) => tag.source === 'manual').map((tag) => tag.id);
      },

      togglePick(id) {
        this.picked = this.picked.includes(id) ? this.picked.filter((x) => x !== id) : [...this.picked, id];
      },

      async saveTags() {
        if (this.savingTags) return;
        this.savingTags = true;
        this.tagError = '';
        try {
          this.showTags(await api.put('/customers/' + customerId + '/tags', { tag_ids: this.picked }));
          this.editingTags = false;
          toast('标签已保存');
        } catch (error) {
          this.tagError = error.message;
        } finally {
          this.savingTags = false;
        }
      },

      get highlighted() {
        return this.highlightId ? this.orders.find((order) => order.id === this.highlightId) || null : null;
      },

      scrollToHighlight() {
        const row = document.querySelector(`[data-order-id="${this.highlightId}"]`);
        if (row) row.scrollIntoView({ block: 'center', behavior: 'smooth' });
      },

      // Where the rep stands, if the phone allows; a note is never lost for want of a fix.
      position() {
        if (!this.withLocation || !navigator.geolocation) return Promise.resolve(null);
        this.locationStatus = '正在定位…';
        return new Promise((resolve) => {
          navigator.geolocation.getCurrentPosition(
            (pos) => {
              this.locationStatus = '已获取位置';
              // WGS-84, as every browser answers; stored as GCJ-02 by the server (core.geo).
              resolve({ latitude: pos.coords.latitude.toFixed(6), longitude: pos.coords.longitude.toFixed(6),
                        coordinate_system: 'wgs84' });
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

    // My WeCom contacts, as WeCom's callbacks recorded them (/api/v1/rep/wecom-contacts).
    Alpine.data('repWeCom', () => ({
      contacts: [],
      active: null,
      expanded: false,
      loading: true,
      loaded: false,
      error: '',

      formatTime,
      customerUrl,

      get shown() {
        return this.expanded ? this.contacts : this.contacts.slice(0, 5);
      },

      async init() {
        try {
          const data = await api.get('/wecom-contacts');
          this.contacts = data.contacts;
          this.active = data.active;
        } catch (error) {
          this.error = error.message;
        } finally {
          this.loading = false;
          this.loaded = true;
        }
      },
    }));

    // 群发任务 (campaigns): for each rep-task campaign, my customers in it with the message ready
    // to send from my phone; I send it (WeCom or WeChat) and mark it sent, once per customer.
    Alpine.data('repCampaignTasks', () => ({
      campaigns: [],
      loading: true,
      loaded: false,
      error: '',
      busy: null,

      formatTime,
      customerUrl,

      get pending() {
        return this.campaigns.reduce((sum, campaign) => sum + campaign.pending, 0);
      },

      async init() {
        try {
          const data = await api.get('/campaign-tasks');
          this.campaigns = data.campaigns;
        } catch (error) {
          this.error = error.message;
        } finally {
          this.loading = false;
          this.loaded = true;
        }
      },

      async copyMessage(task) {
        const ok = await copyText(task.message);
        toast(ok ? '消息已复制，请粘贴发给' + task.customer_name : '复制失败，请长按消息手动复制');
      },

      async markSent(campaign, task) {
        if (this.busy) return;
        this.busy = task.id;
        try {
          const saved = await api.post('/campaign-tasks/' + task.id + '/sent', {});
          if (task.status !== 'sent') campaign.pending -= 1;
          task.status = saved.status;
          task.sent_at = saved.sent_at;
          toast('已标记为已发送');
        } catch (error) {
          toast(error.message);
        } finally {
          this.busy = null;
        }
      },
    }));

    Alpine.data('repInbox', () => ({
      messages: [],
      expanded: false,
      loading: true,
      loaded: false,
      error: '',

      formatTime,

      get shown() {
        return this.expanded ? this.messages : this.messages.slice(0, 5);
      },

      async init() {
        try {
          const data = await api.get('/inbox');
          this.messages = data.messages;
        } catch (error) {
          this.error = error.message;
        } finally {
          this.loading = false;
          this.loaded = true;
        }
      },

      // The sweep titles its alerts "已流失：…" or "流失预警：…"; the dot takes the status colour.
      // A lost-item alert (a customer stopped buying one product) is marked like an early warning.
      kind(message) {
        if (message.template === 'lost_item') return 'at_risk';
        if (message.title.startsWith('已流失')) return 'churned';
        if (message.title.startsWith('流失预警')) return 'at_risk';
        return 'other';
      },

      // Only our own pages: a message's link is ours, but a page never follows anything else.
      safeLink(link) {
        return link && link.startsWith('/') && !link.startsWith('//') ? link : '#';
      },
    }));

    Alpine.data('repNearby', (defaultRadius) => {
      // Leaflet's objects stay out of Alpine's reactive state: wrapped in its proxies, a map
      // loses track of its own layers.
      let map = null;
      let markers = null;
      return {
      radius: defaultRadius,
      state: 'locating', // locating | located | failed
      position: null, // the phone's fix (WGS-84)
      origin: null, // the same in GCJ-02, from the server's answer
      problem: '',
      customers: [],
      loading: false,
      loaded: false,
      error: '',
      view: 'list',
      request: 0, // answers to an older request (a radius tapped before) are dropped

      formatDate,
      formatDistance,
      daysSince,
      customerUrl,
      navUrl,

      init() {
        const config = document.getElementById('rep-map-config');
        this.mapConfig = config ? JSON.parse(config.textContent) : null;
        this.locate();
      },

      statusLabel(status) {
        return STATUS_LABELS[status] || status;
      },

      whereText() {
        if (this.state === 'locating') return '正在定位…';
        if (!this.position) return '未能定位';
        const accuracy = this.position.accuracy ? `（精度约 ${Math.round(this.position.accuracy)} 米）` : '';
        return '按您当前的位置排序' + accuracy;
      },

      async locate() {
        this.state = 'locating';
        this.problem = '';
        try {
          this.position = await locateWgs84();
          this.state = 'located';
        } catch (error) {
          this.state = 'failed';
          this.problem = locationProblem(error);
          return;
        }
        await this.load();
      },

      setRadius(km) {
        if (this.radius === km) return;
        this.radius = km;
        if (this.position) this.load();
      },

      async load() {
        const mine = ++this.request;
        this.loading = true;
        this.error = '';
        try {
          const data = await api.get('/nearby', {
            latitude: this.position.latitude.toFixed(6), longitude: this.position.longitude.toFixed(6),
            coordinate_system: 'wgs84', radius_km: this.radius, limit: 100,
          });
          if (mine !== this.request) return;
          this.origin = data.origin;
          this.customers = data.customers;
        } catch (error) {
          if (mine !== this.request) return;
          this.error = error.message;
        } finally {
          if (mine === this.request) {
            this.loading = false;
            this.loaded = true;
          }
        }
        if (map) this.drawMarkers();
      },

      showList() {
        this.view = 'list';
      },

      async showMap() {
        if (!this.mapConfig || !window.L) return;
        this.view = 'map';
        await this.$nextTick();
        if (!map) {
          map = L.map(this.$refs.map, { zoomControl: true, attributionControl: Boolean(this.mapConfig.attribution) });
          L.tileLayer(this.mapConfig.tileUrl, { attribution: this.mapConfig.attribution, maxZoom: 18 }).addTo(map);
          markers = L.layerGroup().addTo(map);
          // A view first: until the map has one, layers added to it are not placed on it.
          map.setView(this.here(), 14);
        }
        map.invalidateSize(); // it was laid out while hidden
        this.drawMarkers();
      },

      // On the map, in the pins' datum: the GCJ-02 centre the server answered with.
      here() {
        const where = this.origin || this.position;
        return [Number(where.latitude), Number(where.longitude)];
      },

      drawMarkers() {
        if (!map || !this.position) return;
        const here = this.here();
        markers.clearLayers();
        const area = L.circle(here, { radius: this.radius * 1000, color: '#576b95', weight: 1, fillOpacity: 0.04 });
        area.addTo(markers);
        L.circleMarker(here, { radius: 7, color: '#fff', weight: 2, fillColor: '#1485ee', fillOpacity: 1 })
          .bindTooltip('我在这里').addTo(markers);
        this.customers.forEach((customer) => {
          const colour = customer.status === 'churned' ? '#fa5151' : '#fa9d3b';
          L.circleMarker([Number(customer.latitude), Number(customer.longitude)], {
            radius: 8, color: '#fff', weight: 2, fillColor: colour, fillOpacity: 0.95,
          }).bindPopup(() => this.popup(customer)).addTo(markers);
        });
        map.fitBounds(L.latLng(here).toBounds(this.radius * 2000), { padding: [8, 8] });
      },

      // Built from elements, never from an HTML string: names are typed in by people.
      popup(customer) {
        const box = document.createElement('div');
        box.className = 'rep-map-popup';
        const title = Object.assign(document.createElement('a'), { href: customerUrl(customer.id), textContent: customer.name });
        const line = Object.assign(document.createElement('p'), {
          textContent: `${this.statusLabel(customer.status)} · ${formatDistance(customer.distance_km)}`
            + (customer.last_order_at ? ` · 最近下单 ${formatDate(customer.last_order_at)}` : ''),
        });
        const nav = Object.assign(document.createElement('a'), { href: navUrl(customer), textContent: '导航', target: '_blank', rel: 'noopener' });
        const call = Object.assign(document.createElement('a'), { href: 'tel:' + customer.phone, textContent: customer.phone });
        const actions = document.createElement('p');
        actions.append(call, ' · ', nav);
        box.append(title, line, actions);
        return box;
      },
      };
    });
  });
})();
