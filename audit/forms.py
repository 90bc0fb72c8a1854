from django import forms

from approvals.forms import DateRangeForm
from approvals.timeline import action_label


class AuditSearchForm(DateRangeForm):
    actor = forms.CharField(label="Person", required=False, max_length=254,
                            widget=forms.TextInput(attrs={"placeholder": "e-mail or part of it"}))
    action = forms.ChoiceField(label="What happened", required=False)
    request = forms.CharField(label="Request", required=False, max_length=36,
                              widget=forms.TextInput(attrs={"placeholder": "e.g. 53AE546C"}))
    q = forms.CharField(label="Text", required=False, max_length=200,
                        widget=forms.TextInput(attrs={"placeholder": "words in the event"}))

    def __init__(self, *args, actions=(), chains=None, **kwargs):
        super().__init__(*args, **kwargs)
        if chains is not None:
            # Provider auditors search one chain or all of them.
            self.fields["chain"] = forms.ChoiceField(
                label="Chain", required=False,
                choices=[("", "Every chain"), *[(c, c) for c in chains]])
            self.order_fields(["chain"])
        self.fields["action"].choices = [("", "Anything"),
                                         *[(a, action_label(a)) for a in actions]]

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
