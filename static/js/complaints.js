/*
 * Complaints (投诉) pages: file a complaint (about one of the customer's orders or none), the
 * list of the customer's complaints, and one complaint's status with every reply. The server
 * checks everything (category, text, order, photos); the page only sends what the customer chose.
 */
(function () {
  'use strict';

  const { showError } = window.shopHelpers;

  document.addEventListener('alpine:init', () => {
    Alpine.data('complaintNewPage', (orderId) => ({
      orderId: orderId || '',
      category: '',
      text: '',
      photos: [],
      busy: false,

      async submit() {
        if (this.busy) return;
        if (!this.category) return showError({ message: '请选择投诉类别' });
        if (!this.text.trim()) return showError({ message: '请填写投诉内容' });
        const form = new FormData();
        form.append('category', this.category);
        form.append('text', this.text);
        if (this.orderId) form.append('order_id', this.orderId);
        this.photos.forEach((file) => form.append('photos', file));
        this.busy = true;
        try {
          await subscribe.ask(subscribe.ON_COMPLAINT); // in the tap: the reply is announced
          const created = await api.postForm('/complaints', form);
          wx.showToast({ title: '已提交', icon: 'success', duration: 800 });
          window.location.href = '/shop/complaints/' + created.id + '/';
        } catch (error) {
          showError(error);
        } finally {
          this.busy = false;
        }
      },
    }));

    Alpine.data('complaintListPage', () => ({
      items: [],
      loaded: false,
      error: '',

      async init() {
        try {
          this.items = (await api.get('/complaints')).results;
        } catch (error) {
          this.error = error.message;
        } finally {
          this.loaded = true;
        }
      },
    }));

    Alpine.data('complaintPage', (complaintId) => ({
      item: null,
      error: '',

      async init() {
        try {
          this.item = await api.get('/complaints/' + complaintId);
        } catch (error) {
          this.error = error.message;
        }
      },
    }));
  });
})();
