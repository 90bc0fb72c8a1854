"""Forms validate and normalise what people type; services do the writing."""

from datetime import UTC, datetime, time, timedelta

from django import forms

from approvals.models import State, TenantRole
from lockbox_portal.security.forms import StepUpMixin

MAX_COMMENT = 2000


class DecisionForm(StepUpMixin, forms.Form):
    comment = forms.CharField(
        label="Comment", required=False, max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, comment_required=False, **kwargs):
        super().__init__(*args, **kwargs)
        if comment_required:
            self.fields["comment"].required = True
            self.fields["comment"].label = "Reason (the engineer and your colleagues see it)"
            self.fields["comment"].error_messages["required"] = (
                "Say why; the engineer and your colleagues will see it.")
        else:
            self.fields["comment"].label = "Comment (optional)"

    def clean_comment(self):
        return self.cleaned_data["comment"].strip()


class DateRangeForm(forms.Form):
    since = forms.DateField(label="From", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("“From” must be on or before “To”.")
        return data

    def bounds(self):
        """[since 00:00, the day after `until` 00:00) in UTC, either end optional."""
        data = self.cleaned_data if self.is_valid() else {}
        since = data.get("since")
        until = data.get("until")
        return (
            datetime.combine(since, time.min, tzinfo=UTC) if since else None,
            datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC) if until else None,
        )


class HistoryFilterForm(DateRangeForm):
    state = forms.ChoiceField(label="State", required=False,
                              choices=[("", "Any state"), *State.choices])


class PolicyForm(StepUpMixin, forms.Form):
    lockbox_enabled = forms.BooleanField(
        label="Lockbox is on", required=False,
        help_text="When off, the provider's internal approval alone grants access to your data. "
                  "Every such access is still recorded here.",
    )
    customer_approval_window = forms.IntegerField(
        label="Approval window (hours)", min_value=1, max_value=168,
        help_text="How long a request waits for your approvers before it expires (1 to 168).",
    )
    max_access_duration = forms.IntegerField(
        label="Longest access (hours)", min_value=1, max_value=168,
        help_text="The most an engineer can be granted at once (1 to 168).",
    )
    required_approvals = forms.IntegerField(
        label="Approvals needed", min_value=1, max_value=10,
        help_text="How many different approvers must approve before access starts.",
    )

    @classmethod
    def initial_for(cls, tenant):
        return {
            "lockbox_enabled": tenant.lockbox_enabled,
            "customer_approval_window": int(tenant.customer_approval_window.total_seconds()
                                            // 3600),
            "max_access_duration": int(tenant.max_access_duration.total_seconds() // 3600),
            "required_approvals": tenant.required_approvals,
        }

    def policy(self):
        data = self.cleaned_data
        return {
            "lockbox_enabled": data["lockbox_enabled"],
            "customer_approval_window": timedelta(hours=data["customer_approval_window"]),
            "max_access_duration": timedelta(hours=data["max_access_duration"]),
            "required_approvals": data["required_approvals"],
        }


ROLE_CHOICES = TenantRole.choices


class InviteForm(StepUpMixin, forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254)
    roles = forms.MultipleChoiceField(label="Roles", choices=ROLE_CHOICES,
                                      widget=forms.CheckboxSelectMultiple)


class RolesForm(StepUpMixin, forms.Form):
    roles = forms.MultipleChoiceField(label="Roles", choices=ROLE_CHOICES,
                                      widget=forms.CheckboxSelectMultiple)


class ConfirmForm(StepUpMixin, forms.Form):
    pass


class NotificationsForm(StepUpMixin, forms.Form):
    emails = forms.CharField(
        label="Also tell these addresses", required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One address per line. Your approvers are always told; add a shared mailbox "
                  "or your security team here.",
    )

    def addresses(self):
        return [line for line in self.cleaned_data["emails"].replace(",", "\n").splitlines()
                if line.strip()]
