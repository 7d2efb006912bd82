/*
 * A small stand-in for the WeChat mini-program client API (`wx.*`) in an ordinary browser.
 *
 * The rest of the front end (api.js, shop.js, orders.js) calls only these functions, with the
 * mini program's names and Promise-style signatures, so that it would run inside a real mini
 * program unchanged. Four calls are played by the dev backend, because in a mini program
 * WeChat itself answers them: `wx.login` (`/wechat-dev/login`, the "WeChat user" lives in an
 * httponly cookie), `wx.getPhoneNumber` (what the getPhoneNumber button hands the page),
 * `wx.requestPayment` (the WeChat Pay sheet) and `wx.requestSubscribeMessage` (the "发送以下消息"
 * sheet). Everything else maps 1:1 onto a browser feature.
 *
 * Those four exist only while the server runs the dev backend, which says so on the page
 * (`<html data-wechat-dev="1">`, base_mobile.html); with the real backend /wechat-dev/ is not
 * there, so they fail at once with "请在微信中打开" instead of calling it.
 */
(function () {
  'use strict';

  const LAUNCH_KEYS = ['scene', 'launch_scene'];
  const LAUNCH_ID_KEY = 'launch_id';
  // The merchant's short name as registered with WeChat Pay, which the pay sheet shows.
  const MERCHANT_NAME = '海鲜批发订货';

  function cookie(name) {
    const found = document.cookie.split('; ').find((row) => row.startsWith(name + '='));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : '';
  }

  function randomId(bytes = 16) {
    // getRandomValues, not randomUUID: the latter needs a secure context, which a phone on the
    // office Wi-Fi talking plain http to a dev server is not.
    const values = new Uint8Array(bytes);
    crypto.getRandomValues(values);
    return Array.from(values, (value) => value.toString(16).padStart(2, '0')).join('');
  }

  // One mini-program launch is one browser tab session: a rep's QR code opens
  // /shop/?scene=r%3D<KEY>&launch_scene=1047 and the later pages have no query string, so the
  // values and a launch id live in sessionStorage. A reload keeps them (the same launch, not
  // counted twice); a new tab, or another code opened in this one, is a new launch.
  let memoryLaunchId = ''; // when storage is disabled (private mode), at least this page has one

  (function rememberLaunch() {
    const query = new URLSearchParams(window.location.search);
    try {
      const carried = LAUNCH_KEYS.some((key) => query.has(key));
      const another = carried && LAUNCH_KEYS.some((key) => (query.get(key) || '') !== (sessionStorage.getItem(key) || ''));
      if (another) {
        LAUNCH_KEYS.forEach((key) => {
          if (query.has(key)) sessionStorage.setItem(key, query.get(key));
          else sessionStorage.removeItem(key);
        });
      }
      if (another || !sessionStorage.getItem(LAUNCH_ID_KEY)) sessionStorage.setItem(LAUNCH_ID_KEY, randomId());
    } catch (e) {
      memoryLaunchId = randomId(); /* attribution is best effort */
    }
  })();

  function sessionValue(key) {
    try {
      return sessionStorage.getItem(key) || '';
    } catch (e) {
      return '';
    }
  }

  function queryString(data) {
    const params = new URLSearchParams();
    Object.entries(data || {}).forEach(([key, value]) => {
      if (value !== undefined && value !== null && value !== '') params.append(key, value);
    });
    const text = params.toString();
    return text ? '?' + text : '';
  }

  /* wx.request: resolves with {statusCode, data, header} for any HTTP status, rejects only when
   * the network fails ({errMsg}), exactly like the mini program's. */
  async function request({ url, method = 'GET', data, header = {} }) {
    method = method.toUpperCase();
    const options = { method, headers: { Accept: 'application/json', ...header }, credentials: 'same-origin' };
    if (method === 'GET' || method === 'HEAD') {
      url += queryString(data);
    } else if (data !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(data);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (e) {
      throw { errMsg: 'request:fail ' + e.message };
    }
    const text = await response.text();
    let body = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (e) {
      /* not JSON: hand back the text, as wx.request does */
    }
    return { statusCode: response.status, data: body, header: Object.fromEntries(response.headers) };
  }

  const WECHAT_PLAYED_HERE = document.documentElement.dataset.wechatDev === '1';
  const OUTSIDE_WECHAT = '请在微信中打开小程序';

  function requireDevWeChat(api) {
    if (!WECHAT_PLAYED_HERE) throw { errMsg: api + ':fail ' + OUTSIDE_WECHAT, outsideWeChat: true };
  }

  // The dev backend's endpoints are plain Django views: same origin, CSRF token from the cookie.
  function devPost(url, data) {
    return request({ url, method: 'POST', data, header: { 'X-CSRFToken': cookie('csrftoken') } });
  }

  function failReason(response) {
    const error = response.data && response.data.error;
    return (error && error.message) || String(response.statusCode);
  }

  /* wx.login: the dev backend issues a one-use code for the "WeChat user" of this browser; in
   * a mini program WeChat itself returns {code}. */
  async function login() {
    requireDevWeChat('login');
    const response = await devPost('/wechat-dev/login');
    if (response.statusCode !== 200 || !response.data || !response.data.code) {
      throw { errMsg: 'login:fail ' + response.statusCode };
    }
    return { code: response.data.code, errMsg: 'login:ok' };
  }

  /* What a mini program's <button open-type="getPhoneNumber"> hands its bindgetphonenumber
   * handler: {code} to exchange on the server, or errMsg "getPhoneNumber:fail …". WeChat lists
   * the user's verified numbers; here the user types one and the dev backend issues the code. */
  async function getPhoneNumber({ phoneNumber }) {
    requireDevWeChat('getPhoneNumber');
    let response;
    try {
      response = await devPost('/wechat-dev/phone-code', { phone: phoneNumber });
    } catch (e) {
      throw { errMsg: 'getPhoneNumber:fail 网络不给力，请稍后再试' };
    }
    if (response.statusCode !== 200 || !response.data || !response.data.code) {
      throw { errMsg: 'getPhoneNumber:fail ' + failReason(response) };
    }
    return { code: response.data.code, errMsg: 'getPhoneNumber:ok' };
  }

  /* wx.getLocation({type}): {latitude, longitude, accuracy}. With type 'gcj02' WeChat answers in
   * GCJ-02; a browser cannot, so its fix is handed back as it comes and treated as GCJ-02 (the
   * dev stand-in is off by a few hundred metres in mainland China, which a driver's call fixes). */
  function getLocation({ type = 'wgs84' } = {}) {
    return new Promise((resolve, reject) => {
      if (!navigator.geolocation) {
        reject({ errMsg: 'getLocation:fail system permission denied' });
        return;
      }
      navigator.geolocation.getCurrentPosition(
        (position) =>
          resolve({
            latitude: position.coords.latitude,
            longitude: position.coords.longitude,
            accuracy: position.coords.accuracy,
            type,
            errMsg: 'getLocation:ok',
          }),
        (error) =>
          reject({ errMsg: 'getLocation:fail ' + (error.code === 1 ? 'auth deny' : error.code === 3 ? 'timeout' : error.message) }),
        { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 }
      );
    });
  }

  function getStorageSync(key) {
    try {
      const raw = localStorage.getItem(key);
      return raw === null ? '' : JSON.parse(raw);
    } catch (e) {
      return '';
    }
  }

  function setStorageSync(key, value) {
    localStorage.setItem(key, JSON.stringify(value));
  }

  function removeStorageSync(key) {
    localStorage.removeItem(key);
  }

  /* wx.getLaunchOptionsSync: {scene: entry scene number, query: {scene: "r=KEY"}}. */
  function getLaunchOptionsSync() {
    const launchScene = sessionValue('launch_scene');
    const scene = sessionValue('scene');
    return {
      scene: launchScene && /^\d+$/.test(launchScene) ? Number(launchScene) : null,
      query: scene ? { scene } : {},
    };
  }

  /* getApp(): the mini program's App instance. Its globalData.launchId names this launch so that
   * the server counts it once; in a mini program, app.js's onLaunch would create it. */
  const app = {
    globalData: {
      get launchId() {
        return sessionValue(LAUNCH_ID_KEY) || memoryLaunchId;
      },
    },
  };

  function element(html) {
    const template = document.createElement('template');
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  let toastTimer = null;
  let toastNode = null;

  /* wx.showToast: WeUI toast. icon 'error' shows the red top tips instead, because an error
   * message is often longer than a toast holds. */
  function showToast({ title, icon = 'success', duration = 1500 }) {
    hideToast();
    if (icon === 'error') {
      toastNode = element('<div class="weui-toptips weui-toptips_warn" role="alert" data-testid="toptips"></div>');
      toastNode.style.display = 'block';
    } else if (icon === 'none') {
      toastNode = element(
        '<div class="weui-toast__wrp" role="status" data-testid="toast">' +
          '<div class="weui-toast weui-toast_text"><p class="weui-toast__content"></p></div></div>'
      );
    } else {
      toastNode = element(
        '<div class="weui-toast__wrp" role="status" data-testid="toast"><div class="weui-toast">' +
          '<i class="weui-icon-success-no-circle weui-icon_toast"></i><p class="weui-toast__content"></p></div></div>'
      );
    }
    (toastNode.querySelector('.weui-toast__content') || toastNode).textContent = title;
    document.body.appendChild(toastNode);
    toastTimer = setTimeout(hideToast, duration);
    return Promise.resolve({ errMsg: 'showToast:ok' });
  }

  function hideToast() {
    clearTimeout(toastTimer);
    if (toastNode) toastNode.remove();
    toastNode = null;
  }

  /* wx.showModal: WeUI dialog; resolves {confirm, cancel}. */
  function showModal({ title = '', content = '', confirmText = '确定', cancelText = '取消', showCancel = true }) {
    return new Promise((resolve) => {
      const node = element(
        '<div data-testid="modal"><div class="weui-mask"></div><div class="weui-dialog" role="dialog" aria-modal="true">' +
          '<div class="weui-dialog__hd"><strong class="weui-dialog__title"></strong></div>' +
          '<div class="weui-dialog__bd"></div><div class="weui-dialog__ft">' +
          '<a href="#" role="button" class="weui-dialog__btn weui-dialog__btn_default" data-testid="modal-cancel"></a>' +
          '<a href="#" role="button" class="weui-dialog__btn weui-dialog__btn_primary" data-testid="modal-confirm"></a>' +
          '</div></div></div>'
      );
      node.querySelector('.weui-dialog__title').textContent = title;
      node.querySelector('.weui-dialog__bd').textContent = content;
      const cancel = node.querySelector('[data-testid=modal-cancel]');
      const confirm = node.querySelector('[data-testid=modal-confirm]');
      cancel.textContent = cancelText;
      confirm.textContent = confirmText;
      if (!showCancel) cancel.remove();
      const close = (confirmed) => {
        node.remove();
        resolve({ confirm: confirmed, cancel: !confirmed, errMsg: 'showModal:ok' });
      };
      // href="#" with the default prevented: a javascript: URL is script the CSP refuses to run.
      cancel.addEventListener('click', (event) => { event.preventDefault(); close(false); });
      confirm.addEventListener('click', (event) => { event.preventDefault(); close(true); });
      document.body.appendChild(node);
    });
  }

  let loadingNode = null;

  /* wx.showLoading: WeUI loading toast; with mask it also blocks taps, as in WeChat. */
  function showLoading({ title = '加载中', mask = false } = {}) {
    hideLoading();
    loadingNode = element(
      '<div role="status" data-testid="loading">' + (mask ? '<div class="weui-mask_transparent"></div>' : '') +
        '<div class="weui-toast"><span class="weui-primary-loading weui-icon_toast"><span class="weui-primary-loading__dot"></span></span>' +
        '<p class="weui-toast__content"></p></div></div>'
    );
    loadingNode.querySelector('.weui-toast__content').textContent = title;
    document.body.appendChild(loadingNode);
    return Promise.resolve({ errMsg: 'showLoading:ok' });
  }

  function hideLoading() {
    if (loadingNode) loadingNode.remove();
    loadingNode = null;
  }

  /* wx.requestPayment({timeStamp, nonceStr, package, signType, paySign}): the WeChat Pay sheet.
   * Resolves {errMsg: "requestPayment:ok"} once paid; rejects {errMsg: "requestPayment:fail cancel"}
   * when the buyer closes it, or "requestPayment:fail <reason>". The dev backend plays WeChat:
   * it shows what the prepay order says and, on 确认支付, checks paySign as the WeChat client
   * does, pays, and sends the merchant its signed notification. */
  async function requestPayment(params) {
    requireDevWeChat('requestPayment');
    const prepayId = String((params && params.package) || '').replace(/^prepay_id=/, '');
    let sheet;
    try {
      sheet = await request({ url: '/wechat-dev/pay/' + encodeURIComponent(prepayId) });
    } catch (e) {
      throw { errMsg: 'requestPayment:fail 网络不给力，请稍后再试' };
    }
    if (sheet.statusCode !== 200 || !sheet.data) throw { errMsg: 'requestPayment:fail ' + failReason(sheet) };
    if (sheet.data.state !== 'NOTPAY') {
      throw { errMsg: 'requestPayment:fail ' + (sheet.data.state === 'SUCCESS' ? '该订单已支付' : '该订单已关闭') };
    }

    return new Promise((resolve, reject) => {
      const node = element(
        '<div class="sheet-root" data-testid="pay-sheet"><div class="weui-mask" data-testid="pay-mask"></div>' +
          '<div class="weui-half-screen-dialog pay-sheet" role="dialog" aria-modal="true" aria-label="微信支付">' +
          '<div class="weui-half-screen-dialog__hd">' +
          '<div class="weui-half-screen-dialog__hd__side"><button type="button" class="weui-btn_icon" data-testid="pay-close" aria-label="关闭">' +
          '<i class="weui-icon-close-thin"></i></button></div>' +
          '<div class="weui-half-screen-dialog__hd__main"><strong class="weui-half-screen-dialog__title">微信支付</strong></div></div>' +
          '<div class="weui-half-screen-dialog__bd pay-sheet__bd">' +
          '<p class="pay-sheet__merchant" data-testid="pay-merchant"></p>' +
          '<p class="pay-sheet__amount" data-testid="pay-amount"></p>' +
          '<p class="pay-sheet__desc" data-testid="pay-description"></p>' +
          '<p class="pay-sheet__error" data-testid="pay-error" role="alert"></p>' +
          '<p class="pay-sheet__dev">开发环境 · 模拟微信支付，不会真实扣款</p></div>' +
          '<div class="weui-half-screen-dialog__ft"><div class="weui-half-screen-dialog__btn-area">' +
          '<button type="button" class="weui-btn weui-btn_default" data-testid="pay-cancel">取消</button>' +
          '<button type="button" class="weui-btn weui-btn_primary" data-testid="pay-confirm">确认支付</button>' +
          '</div></div></div></div>'
      );
      node.querySelector('[data-testid=pay-merchant]').textContent = '付款给 ' + MERCHANT_NAME;
      node.querySelector('[data-testid=pay-amount]').textContent = '¥' + sheet.data.amount;
      node.querySelector('[data-testid=pay-description]').textContent = sheet.data.description;
      const confirm = node.querySelector('[data-testid=pay-confirm]');
      const errorLine = node.querySelector('[data-testid=pay-error]');
      let paying = false;

      const cancel = () => {
        if (paying) return; // the money may be on its way: wait for WeChat's answer
        node.remove();
        reject({ errMsg: 'requestPayment:fail cancel' });
      };
      ['pay-close', 'pay-cancel', 'pay-mask'].forEach((id) => node.querySelector('[data-testid=' + id + ']').addEventListener('click', cancel));

      confirm.addEventListener('click', async () => {
        if (paying) return; // a double tap pays once
        paying = true;
        confirm.disabled = true;
        confirm.textContent = '支付中…';
        errorLine.textContent = '';
        let response;
        try {
          response = await devPost('/wechat-dev/pay/confirm', params);
        } catch (e) {
          response = null;
        }
        paying = false;
        if (response && response.statusCode === 200 && response.data && response.data.errMsg === 'requestPayment:ok') {
          node.remove();
          resolve({ errMsg: 'requestPayment:ok' });
          return;
        }
        node.remove();
        reject({ errMsg: 'requestPayment:fail ' + (response ? failReason(response) : '网络不给力，请稍后再试') });
      });
      document.body.appendChild(node);
    });
  }

  /* wx.requestSubscribeMessage({tmplIds}): WeChat's "发送以下消息" sheet. Resolves
   * {errMsg: "requestSubscribeMessage:ok", <tmplId>: "accept" | "reject", ...}, exactly WeChat's
   * shape; 允许 accepts the ticked templates, 取消 rejects them all. Each accept lets the server
   * send ONE message of that template (one-time subscription). "总是保持以上选择，不再询问" keeps
   * the answers in this browser and later calls return them without asking, as WeChat does
   * (each such call still counts as one acceptance). Rejects {errMsg, errCode} for an empty or
   * too long list (10001, 20003) or an unknown template (20001). The dev backend plays WeChat;
   * the titles are what the page lists in data-subscribe-templates. */
  const SUBSCRIBE_KEPT_KEY = 'wx_subscribe_kept';
  const SUBSCRIBE_MAX = 5;

  function subscribeTitles() {
    try {
      const templates = JSON.parse(document.body.dataset.subscribeTemplates || '{}');
      return Object.fromEntries(Object.values(templates).map((template) => [template.id, template.title]));
    } catch (e) {
      return {};
    }
  }

  async function requestSubscribeMessage({ tmplIds } = {}) {
    requireDevWeChat('requestSubscribeMessage');
    const fail = (errCode, reason) => {
      throw { errMsg: 'requestSubscribeMessage:fail ' + reason, errCode };
    };
    if (!Array.isArray(tmplIds) || !tmplIds.length) fail(10001, 'TmplIds can\'t be empty');
    if (tmplIds.length > SUBSCRIBE_MAX) fail(20003, 'Templates count out of max bounds');
    const titles = subscribeTitles();
    const unknown = tmplIds.find((id) => !titles[id]);
    if (unknown) fail(20001, 'No template data return, verify the template id exist');

    const kept = getStorageSync(SUBSCRIBE_KEPT_KEY) || {};
    if (tmplIds.every((id) => kept[id])) {
      return Object.fromEntries([['errMsg', 'requestSubscribeMessage:ok'], ...tmplIds.map((id) => [id, kept[id]])]);
    }

    return new Promise((resolve) => {
      const node = element(
        '<div class="sheet-root" data-testid="subscribe-sheet"><div class="weui-mask"></div>' +
          '<div class="weui-half-screen-dialog subscribe-sheet" role="dialog" aria-modal="true" aria-label="订阅消息">' +
          '<div class="weui-half-screen-dialog__hd"><div class="weui-half-screen-dialog__hd__main">' +
          '<strong class="weui-half-screen-dialog__title"></strong></div></div>' +
          '<div class="weui-half-screen-dialog__bd"><p class="subscribe-sheet__ask">发送以下消息</p>' +
          '<div class="weui-cells weui-cells_checkbox" data-testid="subscribe-options"></div>' +
          '<label class="subscribe-sheet__keep"><input type="checkbox" data-testid="subscribe-keep"> 总是保持以上选择，不再询问</label>' +
          '<p class="pay-sheet__dev">开发环境 · 模拟微信订阅消息授权</p></div>' +
          '<div class="weui-half-screen-dialog__ft"><div class="weui-half-screen-dialog__btn-area">' +
          '<button type="button" class="weui-btn weui-btn_default" data-testid="subscribe-cancel">取消</button>' +
          '<button type="button" class="weui-btn weui-btn_primary" data-testid="subscribe-allow">允许</button>' +
          '</div></div></div></div>'
      );
      node.querySelector('.weui-half-screen-dialog__title').textContent = MERCHANT_NAME + ' 申请';
      const list = node.querySelector('[data-testid=subscribe-options]');
      tmplIds.forEach((id) => {
        const option = element(
          '<label class="weui-cell weui-check__label"><div class="weui-cell__hd">' +
            '<input type="checkbox" class="weui-check" checked data-testid="subscribe-option">' +
            '<i class="weui-icon-checked"></i></div><div class="weui-cell__bd"><p></p></div></label>'
        );
        option.querySelector('input').dataset.templateId = id;
        option.querySelector('p').textContent = titles[id];
        list.appendChild(option);
      });
      const answer = (allowed) => {
        const results = Object.fromEntries(
          Array.from(list.querySelectorAll('input'), (input) => [input.dataset.templateId, allowed && input.checked ? 'accept' : 'reject'])
        );
        if (node.querySelector('[data-testid=subscribe-keep]').checked) {
          try {
            setStorageSync(SUBSCRIBE_KEPT_KEY, { ...kept, ...results });
          } catch (e) {
            /* storage disabled: WeChat will simply ask again */
          }
        }
        node.remove();
        resolve({ errMsg: 'requestSubscribeMessage:ok', ...results });
      };
      node.querySelector('[data-testid=subscribe-cancel]').addEventListener('click', () => answer(false));
      node.querySelector('[data-testid=subscribe-allow]').addEventListener('click', () => answer(true));
      document.body.appendChild(node);
    });
  }

  function navigateTo({ url }) {
    window.location.href = url;
    return Promise.resolve({ errMsg: 'navigateTo:ok' });
  }

  /* wx.redirectTo: replaces the current page, so "back" does not return to it (e.g. a submitted
   * checkout). */
  function redirectTo({ url }) {
    window.location.replace(url);
    return Promise.resolve({ errMsg: 'redirectTo:ok' });
  }

  window.wx = {
    login,
    request,
    getStorageSync,
    setStorageSync,
    removeStorageSync,
    getLaunchOptionsSync,
    showToast,
    hideToast,
    showModal,
    showLoading,
    hideLoading,
    getLocation,
    getPhoneNumber,
    requestPayment,
    requestSubscribeMessage,
    navigateTo,
    redirectTo,
  };
  window.getApp = () => app;
})();
