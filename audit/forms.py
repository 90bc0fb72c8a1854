from django import forms

from approvals.actions import label as action_label
from approvals.forms import DateRangeForm


class AuditSearchForm(DateRangeForm):
    actor = forms.CharField(label="Person", required=False, max_length=254,
                            widget=forms.TextInput(attrs={"placeholder": "e-mail or part of it"}))
    action = forms.ChoiceField(label="What happened", required=False)
    request = forms.CharField(label="Request", required=False, max_length=36,
                              widget=forms.TextInput(attrs={"placeholder": "e.g. 53AE546C"}))
    q = forms.CharField(label="Text", required=False, max_length=200,
                        widget=forms.TextInput(attrs={"placeholder": "words in the event"}))

    def __init__(self, *args, actions=(), every_chain=False, **kwargs):
        super().__init__(*args, **kwargs)
        if every_chain:
            # Provider auditors search one chain or all of them. Typed, not picked: there is a
            # chain per tenant, and a provider may have thousands.
            self.fields["chain"] = forms.CharField(
                label="Chain", required=False, max_length=120,
                widget=forms.TextInput(attrs={"placeholder": "every chain, or a tenant's slug"}))
            self.order_fields(["chain"])
        self.fields["action"].choices = [("", "Anything"),
                                         *[(a, action_label(a)) for a in actions]]

    def clean_chain(self):
        from audit.models import ChainHead

        value = self.cleaned_data.get("chain", "").strip()
        if not value:
            return ""
        for chain in (value, f"tenant:{value}"):
            if ChainHead.objects.filter(chain=chain).exists():
                return chain
        raise forms.ValidationError(f"There is no audit chain {value!r}. Give a tenant's slug, "
                                    "a chain's full name (tenant:…, provider), or leave it empty.")

    def filters(self):
        since, until = self.bounds()
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "since": since, "until": until,
            "actor": data.get("actor", "").strip(),
            "action": data.get("action", ""),
            "request": data.get("request", "").strip(),
            "text": data.get("q", "").strip(),
        }
