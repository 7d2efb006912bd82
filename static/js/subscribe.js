/*
 * Asking for subscribe-message consent, the one way every page does it.
 *
 * WeChat delivers a subscribe message only against the user's acceptance of its template, one
 * message per acceptance, and lets a mini program ask (wx.requestSubscribeMessage) only from a
 * tap or a payment callback. So a page asks inside the tap handler of the action whose outcome
 * it will announce, before doing the action:
 *
 *     await subscribe.ask(subscribe.onPaying({ catchWeight, welcome }));  // 提交订单 / 去支付
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

  // Paying: the payment's confirmation and the delivery (signed by / left at); with catch-weight
  // goods also the refund of the weight difference at packing.
  const ON_PAYING = ['order_paid', 'delivery_done'];
  const ON_PAYING_CATCH_WEIGHT = ['order_paid', 'delivery_done', 'weight_refund'];

  /* What the tap that pays asks. A new restaurant still owed its welcome (the checkout preview's
   * `welcome_pending`, crm.welcome) also gets the `welcome` template asked, in the same tap,
   * since no earlier tap could ask it. At most 3 per call: older copies of WeChat's doc say 3 (the
   * current one 5), and the sheet stays short. So with catch-weight goods the welcome takes the
   * place of the delivery notice on that one first order (the driver's arrival announces itself;
   * the weight refund is money and is never dropped). */
  function onPaying({ catchWeight = false, welcome = false } = {}) {
    const names = (catchWeight ? ON_PAYING_CATCH_WEIGHT : ON_PAYING).slice();
    if (!welcome) return names;
    if (names.length >= 3) names.splice(names.indexOf('delivery_done'), 1);
    names.push('welcome');
    return names;
  }

  window.subscribe = {
    ask,
    onPaying,
    ON_PAYING,
    ON_PAYING_CATCH_WEIGHT,
    ON_AFTERSALES: ['aftersales_result', 'refund_done'],
    ON_COMPLAINT: ['complaint_reply'],
    // Cancelling or reducing a paid order before the cut-off: the refund's arrival.
    ON_REFUND: ['refund_done'],
  };
})();
