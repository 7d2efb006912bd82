from django import forms


class ProductImportForm(forms.Form):
    file = forms.FileField(
        label="CSV 文件",
        help_text="UTF-8 或 GBK 编码的 CSV（Excel“另存为 CSV”即可），不超过 20 MB、50,000 行",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
