/*
 * Alpine components of the mini-site: the shared cart store, the shop (categories, search,
 * product list), the product page and the cart page; checkout and orders are in orders.js.
 * Every read and write goes through the JSON API (api.js); prices and totals are always the
 * server's.
 *
 * Quantities have 2 decimals (2.5 斤); stepper arithmetic is done in integer hundredths so
 * that 0.1 + 0.2 never shows up as 0.30000000000000004.
 */
(function () {
  'use strict';

  const PAGE_SIZE = 20;
  const SEARCH_DELAY_MS = 300;

  const hundredths = (text) => Math.round(Number(text) * 100);
  const quantityText = (units) => (units / 100).toFixed(2); // what the API expects: "2.50"
  const quantityLabel = (units) => String(units / 100); // what a buyer reads: "2.5"

  /* Vant-like stepper rules: the first + adds the minimum, further + add one step; − goes down
   * a step and, at the minimum, removes the line. */
  function quantityUp(product, current) {
    return current === 0 ? hundredths(product.min_quantity) : current + hundredths(product.step_quantity);
  }

  function quantityDown(product, current) {
    const lower = current - hundredths(product.step_quantity);
    return lower < hundredths(product.min_quantity) ? 0 : lower;
  }

  function showError(error) {
    wx.showToast({ title: (error && error.message) || '操作失败，请重试', icon: 'error', duration: 2500 });
  }

  function productUrl(product) {
    return '/shop/p/' + encodeURIComponent(product.code) + '/';
  }

  function unitPrice(product) {
    return '¥' + product.price + '/' + product.unit_label;
  }

  function quantityRule(product) {
    const unit = product.unit_label;
    return '起订 ' + quantityLabel(hundredths(product.min_quantity)) + ' ' + unit +
      '，每次加 ' + quantityLabel(hundredths(product.step_quantity)) + ' ' + unit;
  }

  // Money as the API writes it ("97.15") ↔ integer fen, so comparisons and differences are exact.
  const fen = (text) => Math.round(Number(text) * 100);
  const yuan = (fenValue) => (fenValue / 100).toFixed(2);

  /* What stands between a cart and checkout, in the buyer's words, or '' if nothing. The server
   * checks the same rules when the order is placed; this only saves a pointless trip. */
  function checkoutBlocker({ lines, subtotal, minOrderAmount }) {
    if (!lines.length) return '购物车是空的';
    if (lines.some((line) => line.problem)) return '请先删除标红的商品';
    const missing = fen(minOrderAmount) - fen(subtotal);
    return missing > 0 ? '还差 ¥' + yuan(missing) + ' 起送' : '';
  }

  /* The state and methods of a page listing an API's pages (DRF's {results, next}): spread into an
   * Alpine component, `...pagedList('/messages')`; `items`, `fetchPage(1)` in init, `loadMore()`. */
  function pagedList(path) {
    return {
      items: [],
      nextPage: null,
      loading: false,
      loaded: false,
      error: '',

      async fetchPage(page) {
        this.loading = true;
        this.error = '';
        try {
          const data = await api.get(path, { page });
          const listed = new Set(this.items.map((item) => item.id));
          this.items = page === 1 ? data.results : this.items.concat(data.results.filter((item) => !listed.has(item.id)));
          this.nextPage = data.next ? page + 1 : null;
          this.loaded = true;
        } catch (error) {
          this.error = error.message;
        } finally {
          this.loading = false;
        }
      },

      loadMore() {
        if (this.nextPage && !this.loading) this.fetchPage(this.nextPage);
      },
    };
  }

  // Helpers the templates call as $shop.productUrl(product) etc.; the other page scripts share them.
  const helpers = { productUrl, unitPrice, quantityRule, quantityLabel, showError, fen, yuan, checkoutBlocker, pagedList };
  window.shopHelpers = helpers;

  document.addEventListener('alpine:init', () => {
    Alpine.magic('shop', () => helpers);

    Alpine.store('cart', {
      lines: [],
      total: '0.00',
      count: 0,
      quantities: {}, // product id → quantity in hundredths
      available: {}, // product id → available stock in hundredths, as the cart last reported it
      busy: {}, // product id → a request for it is in flight
      loaded: false,

      apply(cart) {
        this.lines = cart.lines;
        this.total = cart.total;
        this.count = cart.count;
        this.quantities = Object.fromEntries(cart.lines.map((line) => [line.product.id, hundredths(line.quantity)]));
        this.available = Object.fromEntries(cart.lines.map((line) => [line.product.id, hundredths(line.product.available)]));
        this.loaded = true;
      },

      async load() {
        try {
          this.apply(await api.get('/cart'));
        } catch (error) {
          showError(error);
        }
      },

      quantity(productId) {
        return this.quantities[productId] || 0;
      },

      // A boolean, never undefined: Alpine binds an undefined `a.b` expression as "" and
      // would then keep the `disabled` attribute.
      isBusy(productId) {
        return this.busy[productId] === true;
      },

      /* Whether "+" (or 加入购物车) can add without going over the stock: a mini program greys the
       * button out rather than letting the server refuse. The cart's own figure is the freshest;
       * the server still checks, in case stock left meanwhile. */
      canIncrease(product) {
        if (!product.in_stock) return false;
        const available = product.id in this.available ? this.available[product.id] : hundredths(product.available);
        return quantityUp(product, this.quantity(product.id)) <= available;
      },

      atLimit(product) {
        return product.in_stock && !this.canIncrease(product);
      },

      label(productId) {
        return quantityLabel(this.quantity(productId));
      },

      // One request per product at a time: the buttons are disabled meanwhile, so a double tap
      // cannot compute its target from a quantity the server has not confirmed yet.
      async run(productId, request) {
        if (this.busy[productId]) return false;
        this.busy[productId] = true;
        try {
          this.apply(await request());
          return true;
        } catch (error) {
          showError(error);
          await this.load(); // show what the server really holds
          return false;
        } finally {
          this.busy[productId] = false;
        }
      },

      setQuantity(product, units) {
        return this.run(product.id, () =>
          units === 0
            ? api.del('/cart/lines/' + product.id)
            : api.put('/cart/lines/' + product.id, { quantity: quantityText(units) })
        );
      },

      increment(product) {
        return this.setQuantity(product, quantityUp(product, this.quantity(product.id)));
      },

      decrement(product) {
        return this.setQuantity(product, quantityDown(product, this.quantity(product.id)));
      },

      // "加入购物车": the server adds the minimum, or one more step if it is already there.
      async add(product) {
        if (await this.run(product.id, () => api.post('/cart/lines', { product: product.id }))) {
          wx.showToast({ title: '已加入购物车', icon: 'success' });
        }
      },

      remove(product) {
        return this.run(product.id, () => api.del('/cart/lines/' + product.id));
      },

      async clear() {
        const { confirm } = await wx.showModal({ title: '清空购物车', content: '确定清空购物车中的全部商品吗？', confirmText: '清空' });
        if (!confirm) return;
        try {
          this.apply(await api.del('/cart'));
        } catch (error) {
          showError(error);
        }
      },
    });

    Alpine.data('shopPage', () => ({
      categories: [],
      category: null, // the aisle selected in the sidebar
      shelf: null, // one of its shelves, or null for all of them
      query: '',
      searchQuery: '', // the query the list currently shows, '' when browsing a category
      products: [],
      count: 0,
      nextPage: null,
      loading: false,
      loaded: false,
      error: '',
      requestSeq: 0,
      searchTimer: null,

      async init() {
        this.$store.cart.load();
        try {
          this.categories = await api.get('/catalog/categories');
        } catch (error) {
          this.error = error.message;
          return;
        }
        if (this.categories.length) this.selectCategory(this.categories[0]);
        this.watchScrollEnd();
      },

      get searching() {
        return this.searchQuery !== '';
      },

      get showShelfHeaders() {
        return !this.searching && !this.shelf && this.category && this.category.children.length > 0;
      },

      sectionStarts(index) {
        return index === 0 || this.products[index - 1].category !== this.products[index].category;
      },

      selectCategory(category) {
        clearTimeout(this.searchTimer);
        this.query = '';
        this.searchQuery = '';
        this.category = category;
        this.shelf = null;
        this.reload();
      },

      selectShelf(shelf) {
        this.shelf = shelf;
        this.reload();
      },

      onQueryInput() {
        clearTimeout(this.searchTimer);
        this.searchTimer = setTimeout(() => this.search(), SEARCH_DELAY_MS);
      },

      search() {
        clearTimeout(this.searchTimer);
        const text = this.query.trim();
        if (text === this.searchQuery) return;
        if (!text) return this.leaveSearch();
        this.searchQuery = text;
        this.reload();
      },

      leaveSearch() {
        clearTimeout(this.searchTimer);
        this.query = '';
        this.searchQuery = '';
        this.reload();
      },

      params(page) {
        const params = { page, page_size: PAGE_SIZE };
        if (this.searching) params.q = this.searchQuery;
        else params.category = (this.shelf || this.category).id;
        return params;
      },

      reload() {
        this.products = [];
        this.count = 0;
        this.nextPage = null;
        this.loaded = false;
        if (this.$refs.list) this.$refs.list.scrollTop = 0;
        if (!this.searching && !this.category) {
          this.requestSeq++; // drop any answer still on its way
          this.loading = false;
          this.loaded = true; // nothing to browse: the shop has no categories yet
          return;
        }
        return this.fetchPage(1);
      },

      async loadMore() {
        if (this.nextPage && !this.loading) await this.fetchPage(this.nextPage);
      },

      async fetchPage(page) {
        // Typing "x" then "xr" fires two searches; only the latest answer may be shown.
        const seq = ++this.requestSeq;
        this.loading = true;
        this.error = '';
        try {
          const data = await api.get('/catalog/products', this.params(page));
          if (seq !== this.requestSeq) return;
          if (page === 1) {
            this.products = data.results;
          } else {
            // A product added meanwhile shifts the pages; never list one twice.
            const listed = new Set(this.products.map((product) => product.id));
            this.products = this.products.concat(data.results.filter((product) => !listed.has(product.id)));
          }
          this.count = data.count;
          this.nextPage = data.next ? Number(new URL(data.next, window.location.href).searchParams.get('page')) : null;
          this.loaded = true;
        } catch (error) {
          if (seq === this.requestSeq) this.error = error.message;
        } finally {
          if (seq === this.requestSeq) this.loading = false;
        }
      },

      // Infinite scroll: load the next page when the end of the list comes into view; the
      // "加载更多" button stays for the cases an observer misses.
      watchScrollEnd() {
        if (!('IntersectionObserver' in window) || !this.$refs.listEnd) return;
        const observer = new IntersectionObserver(
          (entries) => entries.some((entry) => entry.isIntersecting) && this.loadMore(),
          { root: this.$refs.list, rootMargin: '200px' }
        );
        observer.observe(this.$refs.listEnd);
      },
    }));

    Alpine.data('productPage', (code) => ({
      product: null,
      error: '',

      async init() {
        this.$store.cart.load();
        try {
          this.product = await api.get('/catalog/products/' + encodeURIComponent(code));
          document.title = this.product.name;
        } catch (error) {
          this.error = error.message;
        }
      },
    }));

    Alpine.data('cartPage', () => ({
      minOrderAmount: null, // from the checkout quote: the rule lives on the server

      async init() {
        this.$store.cart.load();
        try {
          this.minOrderAmount = (await api.get('/checkout')).min_order_amount;
        } catch (error) {
          showError(error);
        }
      },

      get blocker() {
        const cart = this.$store.cart;
        if (!cart.loaded || this.minOrderAmount === null || !cart.lines.length) return '';
        return checkoutBlocker({ lines: cart.lines, subtotal: cart.total, minOrderAmount: this.minOrderAmount });
      },

      get canCheckout() {
        return this.$store.cart.loaded && this.minOrderAmount !== null && this.$store.cart.lines.length > 0 && !this.blocker;
      },
    }));
  });
})();
