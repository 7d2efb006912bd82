/*
 * 我的常购: the customer's usual products (the server ranks them from paid orders and prices them),
 * pin or hide a line, and add the usual quantities of all lines or the ticked ones to the cart.
 * The server skips what is off sale or out of stock and says why; the page shows it.
 */
(function () {
  'use strict';

  const { showError } = window.shopHelpers;
  const REMINDER_TEMPLATES = ['cutoff_reminder'];

  document.addEventListener('alpine:init', () => {
    Alpine.data('usualsPage', () => ({
      items: [],
      picked: {},
      loading: false,
      loaded: false,
      busy: false,
      error: '',
      reminder: null, // null: unknown (no restaurant yet: the switch stays hidden)
      reminderBusy: false,

      init() {
        this.$store.cart.load(); // the tab bar's badge
        this.fetch();
        this.fetchReminder();
      },

      async fetchReminder() {
        try {
          this.reminder = (await api.get('/usuals/reminder')).enabled;
        } catch (error) {
          this.reminder = null; // a visitor without a restaurant: nothing to remind
        }
      },

      // The customer's choice is kept on the server (one per restaurant); the reminder itself is a
      // subscribe message, which WeChat delivers only if the buyer accepted it.
      async setReminder(enabled) {
        if (this.reminderBusy) return;
        this.reminderBusy = true;
        // Turning it on is a tap: WeChat lets the page ask for the message's consent only there
        // (static/js/subscribe.js; one acceptance is one message, declining never blocks the switch).
        if (enabled && window.subscribe) await window.subscribe.ask(REMINDER_TEMPLATES);
        try {
          this.reminder = (await api.put('/usuals/reminder', { enabled })).enabled;
          wx.showToast({ title: enabled ? '已开启截单提醒' : '已关闭截单提醒', icon: 'success', duration: 800 });
        } catch (error) {
          showError(error);
          await this.fetchReminder();
        } finally {
          this.reminderBusy = false;
        }
      },

      async fetch() {
        this.loading = true;
        this.error = '';
        try {
          this.items = (await api.get('/usuals')).items;
          this.loaded = true;
        } catch (error) {
          this.error = error.message;
        } finally {
          this.loading = false;
        }
      },

      toggle(item) {
        this.picked = { ...this.picked, [item.product.id]: !this.picked[item.product.id] };
      },

      pickedIds() {
        return Object.keys(this.picked).filter((id) => this.picked[id]).map(Number);
      },

      pickedCount() {
        return this.pickedIds().length;
      },

      async mark(item, state) {
        try {
          await api.patch('/usuals/' + item.product.id, { state });
          await this.fetch();
        } catch (error) {
          showError(error);
        }
      },

      async addToCart() {
        if (this.busy) return;
        this.busy = true;
        // A tap: ask for the next reminder's consent too (unless reminders are off).
        if (this.reminder && window.subscribe) await window.subscribe.ask(REMINDER_TEMPLATES);
        const ids = this.pickedIds();
        let result;
        try {
          result = await api.post('/usuals/add', ids.length ? { product_ids: ids } : {});
        } catch (error) {
          showError(error);
          return;
        } finally {
          this.busy = false;
        }
        if (result.notes.length) {
          await wx.showModal({ title: '部分商品未按常购数量加入', content: result.notes.map((note) => note.message).join('\n'),
            showCancel: false, confirmText: '去购物车' });
        } else {
          wx.showToast({ title: '已加入购物车', icon: 'success', duration: 800 });
        }
        wx.navigateTo({ url: '/shop/cart/' });
      },
    }));
  });
})();
