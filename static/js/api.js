/*
 * The JSON API client, written against `wx.*` only (see wx.js) so that a mini program could use
 * it as is. It logs in silently (wx.login code → visitor token), keeps the token in storage,
 * sends `Authorization: Visitor <token>` on every call, and on a 401 logs in again once and
 * retries, the way a mini program renews an expired session.
 *
 * Each launch (how the mini program was opened: a rep's code, a share card, directly) is told
 * to the server once: with the login when there is one, otherwise through /entries. The launch
 * id makes a repeat harmless, so a lost answer can simply be sent again on the next page.
 */
(function () {
  'use strict';

  const BASE = '/api/v1';
  const TOKEN_KEY = 'visitor_token';
  const REPORTED_LAUNCH_KEY = 'reported_launch';

  class ApiError extends Error {
    constructor({ status, code, message, details }) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || {};
    }
  }

  function errorFrom(response) {
    const error = response.data && response.data.error;
    if (error && error.message) {
      return new ApiError({ status: response.statusCode, ...error });
    }
    return new ApiError({ status: response.statusCode, code: 'http_' + response.statusCode, message: '服务暂时不可用，请稍后再试' });
  }

  function launchFields() {
    const options = wx.getLaunchOptionsSync();
    return {
      scene: options.query.scene || '',
      launch_scene: options.scene,
      launch_id: getApp().globalData.launchId || '',
    };
  }

  let pendingLogin = null;

  // One login at a time: the first page load fires several calls at once and WeChat codes are
  // single-use, so they must share one login rather than race.
  function login() {
    if (!pendingLogin) {
      pendingLogin = (async () => {
        const launch = launchFields();
        let code, response;
        try {
          ({ code } = await wx.login());
          response = await wx.request({ url: BASE + '/auth/session', method: 'POST', data: { code, ...launch } });
        } catch (e) {
          if (e && e.outsideWeChat) throw new ApiError({ status: 0, code: 'outside_wechat', message: e.errMsg.replace(/^login:fail /, '') });
          throw new ApiError({ status: 0, code: 'login_failed', message: '登录失败，请检查网络后重试' });
        }
        if (response.statusCode >= 400) throw errorFrom(response);
        wx.setStorageSync(TOKEN_KEY, response.data.token);
        // The server records the launch with a login that carries a scene, and with a first login.
        if (launch.launch_id && (launch.scene || launch.launch_scene || response.statusCode === 201)) {
          wx.setStorageSync(REPORTED_LAUNCH_KEY, launch.launch_id);
        }
        return response.data.token;
      })().finally(() => {
        pendingLogin = null;
      });
    }
    return pendingLogin;
  }

  let pendingReport = null;

  // Best effort and in the background: counting a visit must never hold up the page.
  function reportLaunch() {
    const launch = launchFields();
    if (!launch.launch_id || pendingReport || wx.getStorageSync(REPORTED_LAUNCH_KEY) === launch.launch_id) return;
    pendingReport = call('POST', '/entries', launch, { report: false })
      .then(() => wx.setStorageSync(REPORTED_LAUNCH_KEY, launch.launch_id))
      .catch(() => {
        /* told again on the next page of this launch */
      })
      .finally(() => {
        pendingReport = null;
      });
  }

  async function call(method, path, data, { retried = false, report = true } = {}) {
    const token = wx.getStorageSync(TOKEN_KEY) || (await login());
    if (report) reportLaunch();
    let response;
    try {
      response = await wx.request({ url: BASE + path, method, data, header: { Authorization: 'Visitor ' + token } });
    } catch (e) {
      throw new ApiError({ status: 0, code: 'network', message: '网络不给力，请检查网络后重试' });
    }
    if (response.statusCode === 401 && !retried) {
      // Only drop the token that failed: a parallel call may already have stored a fresh one.
      if (wx.getStorageSync(TOKEN_KEY) === token) wx.removeStorageSync(TOKEN_KEY);
      return call(method, path, data, { retried: true, report });
    }
    if (response.statusCode >= 400) throw errorFrom(response);
    return response.data;
  }

  /* A multipart POST (FormData: fields and photo files), with the same token and 401 retry. A mini
   * program would send each photo with wx.uploadFile; the browser sends them in one request. */
  async function postForm(path, formData, { retried = false } = {}) {
    const token = wx.getStorageSync(TOKEN_KEY) || (await login());
    let response;
    try {
      response = await fetch(BASE + path, { method: 'POST', body: formData, credentials: 'same-origin',
        headers: { Accept: 'application/json', Authorization: 'Visitor ' + token } });
    } catch (e) {
      throw new ApiError({ status: 0, code: 'network', message: '网络不给力，请检查网络后重试' });
    }
    if (response.status === 401 && !retried) {
      if (wx.getStorageSync(TOKEN_KEY) === token) wx.removeStorageSync(TOKEN_KEY);
      return postForm(path, formData, { retried: true });
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      /* not JSON */
    }
    if (response.status >= 400) throw errorFrom({ statusCode: response.status, data });
    return data;
  }

  window.api = {
    ApiError,
    postForm,
    login,
    get: (path, params) => call('GET', path, params),
    post: (path, data) => call('POST', path, data),
    put: (path, data) => call('PUT', path, data),
    patch: (path, data) => call('PATCH', path, data),
    del: (path) => call('DELETE', path),
  };
})();
