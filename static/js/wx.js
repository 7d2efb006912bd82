/*
 * A small stand-in for the WeChat mini-program client API (`wx.*`) in an ordinary browser.
 *
 * The rest of the front end (api.js, shop.js) calls only these functions, with the mini
 * program's names and Promise-style signatures, so that it would run inside a real mini
 * program unchanged. Only `wx.login` is specific to this site: here the browser plays a phone
 * and the dev backend (`/wechat-dev/login`) plays WeChat, keeping the "WeChat user" in an
 * httponly cookie. Everything else maps 1:1 onto a browser feature.
 */
(function () {
  'use strict';

  const LAUNCH_KEYS = ['scene', 'launch_scene'];

  function cookie(name) {
    const found = document.cookie.split('; ').find((row) => row.startsWith(name + '='));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : '';
  }

  // A rep's QR code opens /shop/?scene=r%3D<KEY>&launch_scene=1047. Keep the values for the
  // whole visit (later pages have no query string); a later issue sends them with the login.
  (function rememberLaunch() {
    const query = new URLSearchParams(window.location.search);
    if (!LAUNCH_KEYS.some((key) => query.has(key))) return;
    try {
      LAUNCH_KEYS.forEach((key) => {
        if (query.has(key)) sessionStorage.setItem(key, query.get(key));
      });
    } catch (e) {
      /* storage may be disabled (private mode); attribution is best effort */
    }
  })();

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

  /* wx.login: the only dev-specific call. The dev backend issues a one-use code for the
   * "WeChat user" of this browser; in a mini program WeChat itself returns {code}. */
  async function login() {
    const response = await request({
      url: '/wechat-dev/login',
      method: 'POST',
      header: { 'X-CSRFToken': cookie('csrftoken') },
    });
    if (response.statusCode !== 200 || !response.data || !response.data.code) {
      throw { errMsg: 'login:fail ' + response.statusCode };
    }
    return { code: response.data.code, errMsg: 'login:ok' };
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
    const launchScene = sessionStorage.getItem('launch_scene');
    const scene = sessionStorage.getItem('scene');
    return {
      scene: launchScene && /^\d+$/.test(launchScene) ? Number(launchScene) : null,
      query: scene ? { scene } : {},
    };
  }

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
          '<a href="javascript:" role="button" class="weui-dialog__btn weui-dialog__btn_default" data-testid="modal-cancel"></a>' +
          '<a href="javascript:" role="button" class="weui-dialog__btn weui-dialog__btn_primary" data-testid="modal-confirm"></a>' +
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
      cancel.addEventListener('click', () => close(false));
      confirm.addEventListener('click', () => close(true));
      document.body.appendChild(node);
    });
  }

  function navigateTo({ url }) {
    window.location.href = url;
    return Promise.resolve({ errMsg: 'navigateTo:ok' });
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
    navigateTo,
  };
})();
