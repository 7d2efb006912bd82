/* Packing page: a live preview of the re-priced lines and the refund while the clerk types.
 * Only a preview: the server (logistics/packing.py) computes the amounts and the refund on submit.
 * Money is kept in integer fen and weights in hundredths of a 斤 so rounding matches the server's
 * half-up rounding. */
(function () {
  "use strict";

  // "9.62" → 962; null when empty or not a plain number with at most 2 decimals.
  function hundredths(text) {
    var value = String(text == null ? "" : text).trim();
    var match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(value);
    if (!match) return null;
    return parseInt(match[1], 10) * 100 + parseInt((match[2] || "").padEnd(2, "0") || "0", 10);
  }

  // a × b / c rounded half up, all positive integers.
  function mulDivRound(a, b, c) {
    return Math.floor((2 * a * b + c) / (2 * c));
  }

  function yuan(fen) {
    return "¥" + (fen / 100).toFixed(2);
  }

  window.opsPacking = function (configId) {
    var config = JSON.parse(document.getElementById(configId).textContent);
    return {
      amounts: {},
      none: {},
      capped: {},
      actualText: "—",
      refundText: "—",

      field: function (name) {
        return this.$root.elements.namedItem(name);
      },

      // Reactive (read from `none`, refreshed by recompute) so :disabled follows the checkbox.
      isNone: function (id) {
        return Boolean(this.none[id]);
      },

      boxChecked: function (id) {
        var box = this.field("none_" + id);
        return Boolean(box && box.checked);
      },

      // Fen for one line, or null while its input is missing or invalid.
      lineFen: function (line) {
        var amount = hundredths(line.amount);
        var price = hundredths(line.unitPrice);
        if (line.catchWeight) {
          if (this.boxChecked(line.id)) return 0;
          var weightBox = this.field("weight_" + line.id);
          var weight = hundredths(weightBox && weightBox.value);
          if (!weight) return null;
          var priced = mulDivRound(price, weight, hundredths(line.nominalWeight));
          this.capped[line.id] = priced > amount;
          return Math.min(priced, amount);
        }
        var qtyBox = this.field("qty_" + line.id);
        var typed = qtyBox ? qtyBox.value.trim() : "";
        var quantity = typed === "" ? hundredths(line.quantity) : hundredths(typed);
        if (quantity === null || quantity > hundredths(line.quantity)) return null;
        return Math.min(mulDivRound(price, quantity, 100), amount);
      },

      recompute: function () {
        var self = this;
        var items = 0;
        var complete = true;
        var amounts = {};
        var none = {};
        config.lines.forEach(function (line) {
          none[line.id] = self.boxChecked(line.id);
          var fen = self.lineFen(line);
          amounts[line.id] = fen;
          if (fen === null) complete = false;
          else items += fen;
        });
        this.amounts = amounts;
        this.none = none;
        if (!complete) {
          this.actualText = "—";
          this.refundText = "请先填完所有明细";
          return;
        }
        var actual = Math.max(items + hundredths(config.deliveryFee) - hundredths(config.discount), 0);
        var difference = hundredths(config.total) - actual;
        this.actualText = yuan(actual);
        this.refundText = difference >= hundredths(config.tolerance) && difference > 0
          ? yuan(difference)
          : (difference > 0 ? "差额 " + yuan(difference) + " 不退" : "无");
      },

      lineText: function (id) {
        var fen = this.amounts[id];
        var line = config.lines.filter(function (item) { return item.id === id; })[0];
        if (fen === undefined) return "";
        if (fen === null) return line.catchWeight ? "待称重" : "数量有误";
        var paid = hundredths(line.amount);
        var text = "实际金额 " + yuan(fen);
        if (fen < paid) text += "（少 " + yuan(paid - fen) + "）";
        else if (this.capped[id]) text += "（超重不加价）";
        return text;
      },
    };
  };
})();
