/*
 * Alpine components for checkout, payment and orders: the checkout page (phone authorisation,
 * delivery details, the server's quote, submit and pay), the order list and the order page
 * (status, timeline, pay again, cancel, buy again).
 *
 * The server computes every amount; the page only sends who and where. Placing an order is
 * idempotent: one key per checkout attempt, kept until the server has created the order, so
 * a double tap or a retry after a lost answer finds the same order instead of making another.
 */
(function () {
  'use strict';

  const CHECKOUT_KEY = 'checkout_key';
  const ORDERS_PAGE_SIZE = 20;
  const POLL_INTERVAL_MS = 1000;
  const SYNC_AFTER_MS = 2500; // no notification yet: ask WeChat Pay ourselves, once
  const POLL_FOR_MS = 30000;
  const MAINLAND_MOBILE = /^1[3-9]\d{9}$/;

  const { showError, checkoutBlocker } = window.shopHelpers;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // wx.* failures carry errMsg "api:fail reason"; show the reason.
  function wxReason(error) {
    const text = (error && (error.message || error.errMsg)) || '';
    const reason = text.replace(/^[A-Za-z]+:fail ?/, '');
    return reason || '操作失败，请重试';
  }

  function randomKey() {
    const values = new Uint8Array(16);
    crypto.getRandomValues(values);
    return Array.from(values, (value) => value.toString(16).padStart(2, '0')).join('');
  }

  // sessionStorage: a retry in this tab reuses the key; a later checkout in a new tab gets another.
  function checkoutKey() {
    try {
      let key = sessionStorage.getItem(CHECKOUT_KEY);
      if (!key) {
        key = randomKey();
        sessionStorage.setItem(CHECKOUT_KEY, key);
      }
      return key;
    } catch (e) {
      return (window.__checkoutKey = window.__checkoutKey || randomKey());
    }
  }

  function forgetCheckoutKey() {
    try {
      sessionStorage.removeItem(CHECKOUT_KEY);
    } catch (e) {
      /* nothing kept */
    }
    window.__checkoutKey = undefined;
  }

  const orderUrl = (id) => '/shop/orders/' + encodeURIComponent(id) + '/';

  // Times come from the API in UTC or with an offset; buyers read them in Shanghai time.
  const SHANGHAI = new Intl.DateTimeFormat('en-US', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: 'numeric', day: 'numeric',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  });

  function shanghaiParts(value) {
    return Object.fromEntries(SHANGHAI.formatToParts(new Date(value)).map((part) => [part.type, part.value]));
  }

  function formatDateTime(value) {
    if (!value) return '';
    const parts = shanghaiParts(value);
    const thisYear = shanghaiParts(Date.now()).year;
    return (parts.year !== thisYear ? parts.year + '年' : '') + parts.month + '月' + parts.day + '日 ' + parts.hour + ':' + parts.minute;
  }

  function formatTime(value) {
    const parts = shanghaiParts(value);
    return parts.hour + ':' + parts.minute;
  }

  // A delivery date is a calendar date ("2025-11-25"), not a moment: no time zone applies.
  function formatDate(isoDate) {
    if (!isoDate) return '';
    const [, month, day] = isoDate.split('-').map(Number);
    return month + '月' + day + '日';
  }

  const quantityText = (value) => String(Number(value));

  function lineSummary(order) {
    const shown = order.lines.slice(0, 2).map((line) => line.product_name + ' ×' + quantityText(line.quantity) + line.unit);
    const more = order.lines.length > 2 ? ' 等 ' + order.lines.length + ' 种' : '';
    return shown.join('、') + more;
  }

  const STATUS_HINTS = {
    pending_payment: '请尽快完成支付，超时订单将自动取消',
    paid: '仓库将在送达前备货，请留意配送通知',
    packing: '仓库正在备货',
    packed: '已打包，等待配送',
    out_for_delivery: '司机正在配送途中',
    delivered: '已送达',
    completed: '订单已完成',
    cancelled: '订单已取消',
  };

  /* 再来一单: the server refills the cart at today's prices and says what it could not add. */
  async function reorder(order) {
    let result;
    try {
      result = await api.post('/orders/' + order.id + '/reorder');
    } catch (error) {
      showError(error);
      return;
    }
    if (result.notes.length) {
      await wx.showModal({ title: '部分商品未按原样加入', content: result.notes.join('\n'), showCancel: false, confirmText: '去购物车' });
    } else {
      wx.showToast({ title: '已加入购物车', icon: 'success', duration: 800 });
      await sleep(400);
    }
    wx.navigateTo({ url: '/shop/cart/' });
  }

  // What we told the customer about the order (the delivery message...), oldest first. A page
  // loaded before the API had the field simply shows no messages.
  const messagesOf = (order) => (order && order.messages) || [];

  const formatting = { formatDateTime, formatDate, formatTime, lineSummary, messagesOf, orderUrl, quantityText };

  document.addEventListener('alpine:init', () => {
    Alpine.magic('orders', () => formatting);

    Alpine.data('checkoutPage', (districts) => ({
      quote: null,
      usualNotes: [], // what 我的常购 could not add as usual (off sale, out of stock, reduced)
      error: '',
      districts: [...districts],
      form: { restaurant_name: '', contact_name: '', district: '', address: '', latitude: '', longitude: '', note: '' },
      manualLocation: false,
      locating: false,
      submitting: false,
      phoneSheet: false,
      phone: { number: '', nickname: '', busy: false, error: '' },
      couponId: 0, // 0: none; the server's suggestion until the buyer picks another
      couponChosen: false,

      // WeChat shows its phone sheet only when the user taps a <button open-type="getPhoneNumber">:
      // a page cannot open it by itself. Checkout shows 授权手机号 (and 提交订单 plays the same
      // button until the phone is known); the sheet opens from those taps only.
      async init() {
        await this.fillUsual();
        await this.load();
      },

      // Opened from the reminder before the cut-off (/shop/checkout/?usual=1): the usual basket goes
      // into the cart first (the usual quantities, through the cart's rules: safe to repeat), then the
      // buyer reviews it here and pays — nothing is ordered or charged without their tap.
      async fillUsual() {
        const url = new URL(window.location.href);
        if (url.searchParams.get('usual') !== '1') return;
        url.searchParams.delete('usual');
        window.history.replaceState(null, '', url.pathname + url.search);
        try {
          const result = await api.post('/usuals/add', {});
          this.usualNotes = result.notes.map((note) => note.message);
        } catch (error) {
          this.usualNotes = [error.message];
        }
      },

      async load() {
        try {
          this.quote = await api.get('/checkout');
          this.error = '';
        } catch (error) {
          this.error = error.message;
          return;
        }
        this.prefill(this.quote.customer);
        const offered = this.quote.coupons.some((option) => option.usable && option.coupon.id === this.couponId);
        if (!this.couponChosen || !offered) this.couponId = this.quote.suggested_coupon_id || 0;
      },

      // The chosen coupon as the server priced it for this basket (the order re-checks it).
      get couponOption() {
        if (!this.quote || !this.couponId) return null;
        return this.quote.coupons.find((option) => option.usable && option.coupon.id === this.couponId) || null;
      },

      get payable() {
        if (!this.quote) return '';
        return this.couponOption ? this.couponOption.total : this.quote.total;
      },

      // Fill only what the buyer has not typed: the profile is a suggestion, not an overwrite.
      prefill(customer) {
        if (!customer) return;
        const form = this.form;
        // A new customer's name is their nickname (or 微信用户) until a first order names the restaurant.
        const named = customer.address || !['微信用户', customer.contact_name].includes(customer.name);
        if (!form.restaurant_name && named) form.restaurant_name = customer.name;
        if (!form.contact_name) form.contact_name = customer.contact_name;
        if (!form.address) form.address = customer.address;
        if (!form.district && customer.district) {
          if (!this.districts.includes(customer.district)) this.districts.push(customer.district);
          form.district = customer.district;
        }
        if (!form.latitude && customer.latitude && customer.longitude) {
          form.latitude = customer.latitude;
          form.longitude = customer.longitude;
        }
      },

      get customer() {
        return this.quote && this.quote.customer;
      },

      get blocker() {
        if (!this.quote) return '';
        return checkoutBlocker({ lines: this.quote.lines, subtotal: this.quote.subtotal, minOrderAmount: this.quote.min_order_amount });
      },

      get canSubmit() {
        return Boolean(this.quote) && !this.blocker && !this.submitting;
      },

      get deliveryText() {
        if (!this.quote) return '';
        return '预计 ' + formatDate(this.quote.delivery_date) + ' 送达，' + this.quote.cutoff_time + ' 前下单次日送达';
      },

      get feeHint() {
        if (!this.quote) return '';
        return Number(this.quote.delivery_fee) > 0 ? '满 ¥' + this.quote.free_delivery_threshold + ' 免配送费' : '已满 ¥' + this.quote.free_delivery_threshold;
      },

      get hasLocation() {
        return this.form.latitude !== '' && this.form.longitude !== '';
      },

      closePhoneSheet() {
        if (!this.phone.busy) this.phoneSheet = false;
      },

      async authorisePhone() {
        if (this.phone.busy) return;
        const number = this.phone.number.trim();
        if (!MAINLAND_MOBILE.test(number)) {
          this.phone.error = '请输入 11 位大陆手机号';
          return;
        }
        this.phone.busy = true;
        this.phone.error = '';
        try {
          const { code } = await wx.getPhoneNumber({ phoneNumber: number });
          await api.post('/auth/phone', { code, nickname: this.phone.nickname.trim() });
          this.phoneSheet = false;
          await this.load(); // prices may be the customer's own from now on
          wx.showToast({ title: '授权成功', icon: 'success', duration: 1000 });
        } catch (error) {
          this.phone.error = wxReason(error);
        } finally {
          this.phone.busy = false;
        }
      },

      async locate() {
        if (this.locating) return;
        this.locating = true;
        try {
          // GCJ-02: what WeChat gives with this type and what the delivery maps use.
          const { latitude, longitude } = await wx.getLocation({ type: 'gcj02' });
          this.form.latitude = latitude.toFixed(6);
          this.form.longitude = longitude.toFixed(6);
        } catch (error) {
          this.manualLocation = true;
          wx.showToast({ title: '无法获取当前位置，请手动输入坐标', icon: 'error', duration: 2500 });
        } finally {
          this.locating = false;
        }
      },

      openPhoneSheet() {
        this.phone.error = '';
        this.phoneSheet = true;
      },

      async submit() {
        if (!this.customer) {
          this.openPhoneSheet(); // the tap on 提交订单, as an open-type="getPhoneNumber" button
          return;
        }
        if (!this.canSubmit) return; // one request at a time; the key covers what slips through
        this.submitting = true;
        // Asked in the tap, before paying, so the payment's own message can already be sent; a
        // new restaurant's welcome too (it goes out as soon as it is accepted).
        const catchWeight = this.quote.lines.some((line) => line.product.catch_weight);
        await subscribe.ask(subscribe.onPaying({ catchWeight, welcome: this.quote.welcome_pending }));
        let result;
        try {
          // The basket the buyer confirmed on this page: the order is exactly that, at the
          // server's prices, even if the cart changed meanwhile in another tab.
          const lines = this.quote.lines.map((line) => ({ product_id: line.product.id, quantity: line.quantity }));
          const coupon = this.couponOption ? { coupon_id: this.couponOption.coupon.id } : {};
          result = await api.post('/orders', { ...this.form, lines, ...coupon, idempotency_key: checkoutKey() });
        } catch (error) {
          // The order may exist even though the answer was lost: the retry sends the same key.
          showError(error);
          this.submitting = false;
          return;
        }
        forgetCheckoutKey();
        await this.pay(result);
      },

      async pay({ order, payment, payment_error: paymentError }) {
        const url = orderUrl(order.id);
        if (!payment) {
          if (paymentError) await wx.showModal({ title: '暂时无法支付', content: paymentError.message + '。订单已保留，可在订单页重新支付。', showCancel: false });
          wx.redirectTo({ url });
          return;
        }
        try {
          await wx.requestPayment(payment);
        } catch (error) {
          if (!/cancel/.test(error.errMsg || '')) {
            await wx.showModal({ title: '支付失败', content: wxReason(error), showCancel: false });
          }
          wx.redirectTo({ url }); // the order waits there with 去支付
          return;
        }
        wx.redirectTo({ url: url + '?paid=1' });
      },
    }));

    Alpine.data('ordersPage', () => ({
      orders: [],
      nextPage: null,
      loading: false,
      loaded: false,
      error: '',

      init() {
        this.$store.cart.load(); // the tab bar's badge
        this.fetchPage(1);
      },

      async fetchPage(page) {
        this.loading = true;
        this.error = '';
        try {
          const data = await api.get('/orders', { page });
          const listed = new Set(this.orders.map((order) => order.id));
          this.orders = page === 1 ? data.results : this.orders.concat(data.results.filter((order) => !listed.has(order.id)));
          this.nextPage = data.next ? Number(new URL(data.next, window.location.href).searchParams.get('page')) : null;
          this.loaded = true;
        } catch (error) {
          this.error = error.message;
        } finally {
          this.loading = false;
        }
      },

      loadMore() {
        if (this.nextPage && !this.loading) this.fetchPage(this.nextPage);
      },

      reorder,
    }));

    Alpine.data('orderPage', (orderId) => ({
      order: null,
      error: '',
      busy: false,
      editing: false, // reducing lines of a paid order before the cut-off
      edits: {}, // product id → the quantity typed
      confirming: false, // paid in WeChat, waiting for WeChat Pay to tell the server

      async init() {
        const query = new URLSearchParams(window.location.search);
        const justPaid = query.has('paid');
        if (justPaid) history.replaceState(null, '', window.location.pathname); // a reload does not wait again
        try {
          this.order = await api.get('/orders/' + orderId);
        } catch (error) {
          this.error = error.message;
          return;
        }
        if (justPaid && this.order.status === 'pending_payment') this.waitForPayment();
      },

      get hint() {
        if (!this.order) return '';
        if (this.confirming) return '正在确认支付结果…';
        if (this.order.status === 'pending_payment' && this.order.expires_at) {
          return '请在 ' + formatTime(this.order.expires_at) + ' 前完成支付，超时订单将自动取消';
        }
        return STATUS_HINTS[this.order.status] || '';
      },

      get itemCount() {
        return this.order ? this.order.lines.length : 0;
      },

      // The notification usually arrives first; if not, ask WeChat Pay once, then keep looking.
      async waitForPayment() {
        this.confirming = true;
        const started = Date.now();
        let synced = false;
        try {
          while (this.order.status === 'pending_payment' && Date.now() - started < POLL_FOR_MS) {
            await sleep(POLL_INTERVAL_MS);
            if (!synced && Date.now() - started >= SYNC_AFTER_MS) {
              synced = true;
              this.order = await api.post('/orders/' + orderId + '/sync');
            } else {
              this.order = await api.get('/orders/' + orderId);
            }
          }
        } catch (error) {
          showError(error);
        } finally {
          this.confirming = false;
        }
        if (this.order.status === 'pending_payment') {
          wx.showToast({ title: '暂未收到支付结果，请稍后刷新', icon: 'none', duration: 2500 });
        }
      },

      async payAgain() {
        if (this.busy) return;
        this.busy = true;
        const catchWeight = this.order.lines.some((line) => line.catch_weight);
        // As at 提交订单: a new restaurant still owed its welcome is asked for it in this tap too.
        await subscribe.ask(subscribe.onPaying({ catchWeight, welcome: this.order.welcome_pending }));
        try {
          const { payment } = await api.post('/orders/' + orderId + '/pay');
          await wx.requestPayment(payment);
        } catch (error) {
          this.busy = false;
          if (/cancel/.test(error.errMsg || '')) wx.showToast({ title: '已取消支付', icon: 'none' });
          else showError({ message: wxReason(error) });
          this.order = await api.get('/orders/' + orderId).catch(() => this.order);
          return;
        }
        this.busy = false;
        await this.waitForPayment();
      },

      async cancel() {
        if (this.busy) return;
        const { confirm } = await wx.showModal({ title: '取消订单', content: '确定取消这个订单吗？', confirmText: '取消订单', cancelText: '再想想' });
        if (!confirm) return;
        this.busy = true;
        try {
          this.order = await api.post('/orders/' + orderId + '/cancel');
          wx.showToast({ title: '订单已取消', icon: 'success' });
        } catch (error) {
          showError(error);
        } finally {
          this.busy = false;
        }
      },

      // Paid, before the cut-off: the server cancels and refunds everything paid (or says why not).
      async cancelPaid() {
        if (this.busy) return;
        const { confirm } = await wx.showModal({ title: '取消订单', content: '取消后已付金额 ¥' + this.order.total + ' 将原路退回微信支付，确定取消吗？', confirmText: '取消订单', cancelText: '再想想' });
        if (!confirm) return;
        this.busy = true;
        try {
          await subscribe.ask(subscribe.ON_REFUND); // in the tap: the refund is announced
          this.order = await api.post('/orders/' + orderId + '/cancel');
          wx.showToast({ title: '已取消，退款处理中', icon: 'success' });
        } catch (error) {
          showError(error);
          this.order = await api.get('/orders/' + orderId).catch(() => this.order);
        } finally {
          this.busy = false;
        }
      },

      startEditing() {
        this.edits = Object.fromEntries(this.order.lines.map((line) => [line.product, quantityText(line.quantity)]));
        this.editing = true;
      },

      // Only the lines whose quantity changed are sent; the server prices the refund.
      async saveLines() {
        if (this.busy) return;
        const lines = this.order.lines
          .filter((line) => String(this.edits[line.product]).trim() !== quantityText(line.quantity))
          .map((line) => ({ product_id: line.product, quantity: String(this.edits[line.product]).trim() || '0' }));
        if (!lines.length) {
          this.editing = false;
          return;
        }
        this.busy = true;
        try {
          await subscribe.ask(subscribe.ON_REFUND); // in the tap: the refund is announced
          this.order = await api.post('/orders/' + orderId + '/lines', { lines });
          this.editing = false;
          wx.showToast({ title: '已修改，退款处理中', icon: 'success' });
        } catch (error) {
          showError(error);
        } finally {
          this.busy = false;
        }
      },

      reorder() {
        return reorder(this.order);
      },
    }));
  });
})();
