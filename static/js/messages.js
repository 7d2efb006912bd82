/*
 * 消息: everything we told the customer (payment, delivery, refunds, after-sales, complaint
 * replies), newest first, and whether WeChat delivered it as a service notice. A message the
 * customer did not subscribe to is still listed here, marked 未订阅 (WeChat sends one message
 * per acceptance: see static/js/subscribe.js).
 */
(function () {
  'use strict';

  const { pagedList } = window.shopHelpers;

  document.addEventListener('alpine:init', () => {
    Alpine.data('messagesPage', () => ({
      ...pagedList('/messages'),

      init() {
        this.$store.cart.load(); // the tab bar's badge
        this.fetchPage(1);
      },

      delivery(item) {
        if (item.channel !== 'subscribe') return '';
        if (item.status === 'sent') return '已通过微信服务通知发送';
        if (item.status === 'no_consent') return '未订阅该消息，未通过微信发送';
        if (item.status === 'pending' || item.status === 'sending') return '正在发送';
        return '微信未能送达';
      },

      when(item) {
        const moment = new Date(item.created_at);
        const pad = (value) => String(value).padStart(2, '0');
        return `${moment.getMonth() + 1}月${moment.getDate()}日 ${pad(moment.getHours())}:${pad(moment.getMinutes())}`;
      },
    }));
  });
})();
