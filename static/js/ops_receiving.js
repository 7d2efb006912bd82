/*
 * The receiving form (templates/ops/receiving/new.html): find products by camera scan
 * (html5-qrcode: a SKU barcode/QR or one of our labels' traceability QR codes), by code, name or
 * pinyin (GET /api/v1/catalog/products?q=…), and keep the receipt's rows. The rows are plain
 * form inputs: the server checks everything and stores all rows or none.
 */
(function () {
  'use strict';

  function readState() {
    const element = document.getElementById('receiving-state');
    return element ? JSON.parse(element.textContent) : { lines: [] };
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error && data.error.message;
      throw new Error(message || '服务暂时不可用，请稍后再试');
    }
    return data;
  }

  document.addEventListener('alpine:init', () => {
    window.Alpine.data('receiving', () => {
      const state = readState();
      let nextKey = 0;
      const row = (product, values) => ({
        key: ++nextKey,
        product,
        quantity: '', weight: '', production_date: '', expiry_date: '', unit_cost: '',
        ...(values || {}),
      });
      return {
        supplier: state.supplier || '',
        purchaseTask: state.purchase_task || '',
        lines: (state.lines || []).map((line) => row(line.product, line)),
        query: '',
        results: [],
        message: '',
        scanning: false,
        scanner: null,

        init() {
          // On a slow phone the clerk may pick the purchase task (or type a code) before this
          // script has started; x-model would then reset the choice to the page's initial state
          // and the task's supplier would never be filled in. Keep what the form already holds.
          const form = this.$el;
          const task = form.querySelector('select[name="purchase_task"]');
          const supplier = form.querySelector('select[name="supplier"]');
          const search = form.querySelector('input[data-testid="search"]');
          if (supplier && supplier.value) this.supplier = supplier.value;
          if (task && task.value) {
            this.purchaseTask = task.value;
            if (!this.supplier) this.taskChosen({ target: task });
          }
          if (search && search.value) this.query = search.value;
        },

        add(product) {
          const line = row(product);
          this.lines.push(line);
          this.message = '已添加：' + product.name;
          if (!this.supplier && product.default_supplier_id) {
            this.supplier = String(product.default_supplier_id);
          }
          this.$nextTick(() => {
            const input = document.querySelector('[data-line="' + line.key + '"] input[name="quantity"]');
            if (input) input.focus();
          });
        },

        choose(product) {
          // Search results come from the shop's catalogue API; the warehouse lookup adds what the
          // receipt needs (the product's usual supplier).
          this.results = [];
          this.query = '';
          this.lookup(product.code);
        },

        submitQuery() {
          // Cleared now, not when the answer comes, so nothing typed meanwhile is lost.
          const text = this.query;
          this.query = '';
          this.results = [];
          this.lookup(text);
        },

        remove(index) {
          this.lines.splice(index, 1);
        },

        taskChosen(event) {
          const option = event.target.selectedOptions[0];
          if (option && option.dataset.supplier) this.supplier = option.dataset.supplier;
        },

        async lookup(text) {
          text = (text || '').trim();
          if (!text) return;
          try {
            const data = await getJson(state.lookup_url + '?code=' + encodeURIComponent(text));
            this.add(data.product);
          } catch (error) {
            this.message = error.message;
          }
        },

        async search() {
          const query = this.query.trim();
          if (!query) {
            this.results = [];
            return;
          }
          try {
            const data = await getJson(state.search_url + '?page_size=10&q=' + encodeURIComponent(query));
            if (query !== this.query.trim()) return; // a newer search is on its way
            this.results = data.results || [];
            this.message = this.results.length ? '' : '没有找到，可直接输入完整编码后按回车';
          } catch (error) {
            this.message = error.message;
          }
        },

        startScan() {
          if (typeof window.Html5Qrcode === 'undefined') {
            this.message = '扫码组件未加载，请输入编码';
            return;
          }
          this.scanning = true;
          this.message = '将条码或二维码对准取景框';
          this.$nextTick(() => {
            this.scanner = new window.Html5Qrcode('receiving-scanner');
            this.scanner.start(
              { facingMode: 'environment' },
              { fps: 10, qrbox: { width: 240, height: 240 } },
              (text) => {
                this.stopScan();
                this.lookup(text);
              },
              () => {},
            ).catch((error) => {
              this.scanning = false;
              this.scanner = null;
              // Browsers allow the camera only over https (or localhost).
              this.message = '无法打开摄像头（需 https 且允许使用相机）：' + error;
            });
          });
        },

        stopScan() {
          const scanner = this.scanner;
          this.scanner = null;
          this.scanning = false;
          if (scanner) {
            scanner.stop().then(() => scanner.clear()).catch(() => {});
          }
        },
      };
    });
  });
})();
