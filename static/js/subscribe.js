/*
 * Asking for subscribe-message consent, the one way every page does it.
 *
 * WeChat delivers a subscribe message only against the user's acceptance of its template, one
 * message per acceptance, and lets a mini program ask (wx.requestSubscribeMessage) only from a
 * tap or a payment callback. So a page asks inside the tap handler of the action whose outcome
 * it will announce, before doing the action:
 *
 *     await subscribe.ask(subscribe.ON_PAYING);          // 提交订单 / 去支付
 *     await subscribe.ask(['aftersales_result', 'refund_done']);  // 提交售后申请
 *     await subscribe.ask(['complaint_reply']);          // 提交投诉
 *
 * Names are our template names (settings.WECHAT_SUBSCRIBE_TEMPLATES; the page carries their ids
 * in <body data-subscribe-templates>); at most 5 at once, and only one-time templates. `ask`
 * records WeChat's answer on the server (POST /api/v1/messages/subscriptions) and resolves with
 * it, or with null if the user could not be asked (outside WeChat, no network, unknown name). It
 * never rejects: declining a message must never stop an order.
 */
(function () {
  'use strict';

  function templates() {
    try {
      return JSON.parse(document.body.dataset.subscribeTemplates || '{}');
    } catch (e) {
      return {};
    }
  }

  async function ask(names) {
    const known = templates();
    const tmplIds = (names || []).filter((name) => known[name]).map((name) => known[name].id);
    if (!tmplIds.length) return null;
    let result;
    try {
      result = await wx.requestSubscribeMessage({ tmplIds });
    } catch (e) {
      return null;
    }
    try {
      await api.post('/messages/subscriptions', { result });
    } catch (e) {
      /* not recorded: those messages will be listed as not sent; the order goes on */
    }
    return result;
  }

  window.subscribe = {
    ask,
    // Paying: the payment's confirmation and the delivery (signed by / left at); with catch-weight
    // goods also the refund of the weight difference at packing.
    ON_PAYING: ['order_paid', 'delivery_done'],
    ON_PAYING_CATCH_WEIGHT: ['order_paid', 'delivery_done', 'weight_refund'],
    ON_AFTERSALES: ['aftersales_result', 'refund_done'],
    ON_COMPLAINT: ['complaint_reply'],
    // Cancelling or reducing a paid order before the cut-off: the refund's arrival.
    ON_REFUND: ['refund_done'],
  };
})();
