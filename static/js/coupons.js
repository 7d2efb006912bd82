/*
 * 我的优惠券: the customer's coupons in three tabs (可使用 / 已使用 / 已过期), as the server sorts
 * them (GET /api/v1/coupons). Using one happens at checkout, where the best one is suggested.
 */
(function () {
  'use strict';

  document.addEventListener('alpine:init', () => {
    Alpine.data('couponsPage', () => ({
      tabs: [{ key: 'usable', label: '可使用' }, { key: 'used', label: '已使用' }, { key: 'expired', label: '已过期' }],
      current: 'usable',
      wallet: { usable: [], used: [], expired: [] },
      loading: false,
      loaded: false,
      error: '',

      init() {
        this.$store.cart.load(); // the tab bar's badge
        this.fetch();
      },

      async fetch() {
        this.loading = true;
        this.error = '';
        try {
          this.wallet = await api.get('/coupons');
          this.loaded = true;
        } catch (error) {
          this.error = error.message;
        } finally {
          this.loading = false;
        }
      },

      subscribing: false,
      subscribed: false,

      // In the tap, as WeChat requires: one acceptance of 优惠活动通知 = one campaign message
      // (static/js/subscribe.js records it; declining changes nothing here).
      async subscribePromotions() {
        this.subscribing = true;
        try {
          const result = await subscribe.ask(['promotion']);
          this.subscribed = !!result && Object.values(result).includes('accept');
        } finally {
          this.subscribing = false;
        }
      },

      couponRate(coupon) {
        return ((100 - Number(coupon.percent_off)) / 10).toString() + ' 折';
      },
    }));
  });
})();
