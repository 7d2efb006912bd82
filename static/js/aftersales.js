/*
 * After-sales (售后) pages: 申请售后 on a delivered order (pick lines, a quantity or a weight, a
 * reason, a note and up to 6 photos), a request's status page with every reply, and 我的售后 (every
 * request with its status and replies). The server
 * checks everything (window, quantities, photos); the page only sends what the customer chose.
 */
(function () {
  'use strict';

  const { showError, pagedList } = window.shopHelpers;

  document.addEventListener('alpine:init', () => {
    Alpine.data('aftersalesNewPage', (orderId) => ({
      info: null,
      error: '',
      busy: false,
      picked: {},
      by: {},
      amounts: {},
      reason: '',
      note: '',
      photos: [],

      async init() {
        try {
          this.info = await api.get('/orders/' + orderId + '/aftersales');
        } catch (error) {
          this.error = error.message;
        }
      },

      lines() {
        return this.info.lines
          .filter((line) => this.picked[line.line_id])
          .map((line) => ({ line_id: line.line_id, [this.by[line.line_id] === 'weight' ? 'weight' : 'quantity']: String(this.amounts[line.line_id] || '') }));
      },

      async submit() {
        if (this.busy) return;
        const lines = this.lines();
        if (!lines.length) return showError({ message: '请选择要申请售后的商品' });
        if (!this.reason) return showError({ message: '请选择售后原因' });
        const form = new FormData();
        form.append('order_id', orderId);
        form.append('reason', this.reason);
        form.append('note', this.note);
        form.append('lines', JSON.stringify(lines));
        this.photos.forEach((file) => form.append('photos', file));
        this.busy = true;
        await subscribe.ask(subscribe.ON_AFTERSALES); // in the tap: the decision and the refund are announced
        try {
          const created = await api.postForm('/aftersales', form);
          wx.showToast({ title: '已提交', icon: 'success', duration: 800 });
          window.location.href = '/shop/aftersales/' + created.id + '/';
        } catch (error) {
          showError(error);
        } finally {
          this.busy = false;
        }
      },
    }));

    Alpine.data('aftersalesPage', (requestId) => ({
      item: null,
      error: '',
      busy: false,
      photos: [],

      async init() {
        try {
          this.item = await api.get('/aftersales/' + requestId);
        } catch (error) {
          this.error = error.message;
        }
      },

      async addPhotos() {
        if (this.busy || !this.photos.length) return;
        const form = new FormData();
        this.photos.forEach((file) => form.append('photos', file));
        this.busy = true;
        try {
          this.item = await api.postForm('/aftersales/' + requestId + '/photos', form);
          this.photos = [];
          wx.showToast({ title: '已补充', icon: 'success' });
        } catch (error) {
          showError(error);
        } finally {
          this.busy = false;
        }
      },
    }));

    /* 我的售后: the customer's requests, newest first, each with its status and every reply. */
    Alpine.data('aftersalesListPage', () => ({
      ...pagedList('/aftersales'),

      init() {
        this.fetchPage(1);
      },
    }));
  });
})();
