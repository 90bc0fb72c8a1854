"""Forms validate and normalise what people type; services do the writing."""

from datetime import UTC, datetime, time, timedelta

from django import forms

from approvals.actions import label as action_label
from approvals.models import AccessLevel, ReasonType, State, TenantRole
from approvals.notifications.webhooks.endpoints import EVENT_TYPES
from audit.models import ChainHead
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


class RetentionForm(StepUpMixin, forms.Form):
    audit_retention_years = forms.IntegerField(
        label="Keep audit events in the database for (years)", min_value=1, max_value=10,
        help_text="Older events leave the database as signed archives you can still download "
                  "and verify (1 to 10 years).")
    legal_hold = forms.BooleanField(
        label="Legal hold", required=False,
        help_text="While on, no audit event is archived or deleted, however old.")


class LegalHoldForm(StepUpMixin, forms.Form):
    legal_hold = forms.BooleanField(
        label="The provider's legal hold", required=False,
        help_text="Kept apart from the tenant's own hold: the tenant's admins cannot lift this "
                  "one, and it does not lift theirs.")


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


def _lines(label, help_text):
    return forms.CharField(label=label, required=False, help_text=help_text,
                           widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}))


class SsoForm(StepUpMixin, forms.Form):
    # Checked by approvals.sso.save_connection (its errors land on these fields).
    issuer = forms.CharField(
        label="Issuer", max_length=500,
        help_text="The address your identity provider names itself by, e.g. "
                  "https://login.microsoftonline.com/<tenant id>/v2.0 or "
                  "https://<your org>.okta.com.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocapitalize": "none"}))
    client_id = forms.CharField(label="Client (application) id", max_length=255,
                                widget=forms.TextInput(attrs={"spellcheck": "false",
                                                              "autocomplete": "off"}))
    client_secret = forms.CharField(
        label="Client secret", max_length=500, required=False,
        help_text="Stored encrypted and never shown again. Leave empty to keep the saved one.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False))
    role_claim = forms.ChoiceField(
        label="Roles come from the claim", choices=[("groups", "groups"), ("roles", "roles")],
        help_text="Entra ID: app roles (roles) are recommended; groups are left out of the token "
                  "for people in more than 200 groups.")
    admin_values = _lines("Tenant admins", "Group or role values, one per line.")
    approver_values = _lines("Lockbox approvers", "Group or role values, one per line.")
    reader_values = _lines("Compliance readers", "Group or role values, one per line.")


class SsoStartForm(forms.Form):
    email = forms.EmailField(label="Your work e-mail address", max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "email",
                                                            "autofocus": True}))


class DomainForm(StepUpMixin, forms.Form):
    # Checked and normalised by approvals.domains.normalize (its errors land on this field).
    domain = forms.CharField(
        label="Domain", max_length=300,
        help_text="The part of your people's e-mail addresses after the @, such as example.com.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false",
                                      "autocapitalize": "none"}))


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


# --- The internal site --------------------------------------------------------------------------

DURATIONS = [(15, "15 minutes"), (30, "30 minutes"), (60, "1 hour"), (120, "2 hours"),
             (180, "3 hours"), (240, "4 hours"), (360, "6 hours"), (480, "8 hours"),
             (720, "12 hours"), (1440, "24 hours")]


class ChooseTenantForm(forms.Form):
    tenant = forms.ChoiceField(label="Customer tenant")

    def __init__(self, *args, tenants=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].choices = [("", "Choose…"), *[(t.slug, t.name) for t in tenants]]


class AccessRequestForm(forms.Form):
    case_reference = forms.CharField(label="Support case", max_length=64,
                                     help_text="The ticket this access is for, e.g. CASE-40211.")
    reason_type = forms.ChoiceField(label="Reason", choices=ReasonType.choices)
    justification = forms.CharField(
        label="Justification", max_length=4000, widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What you need to look at and why. The customer's approvers read this.")
    scope = forms.CharField(
        label="Resources", widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One per line, as narrow as the task allows, segments separated by / (no "
                  "'.' or '..' segments, spaces or %-escapes). End with /* to include "
                  "everything below it.")
    access_level = forms.ChoiceField(label="Access", choices=AccessLevel.choices,
                                     initial=AccessLevel.READ_ONLY, widget=forms.RadioSelect)
    duration = forms.TypedChoiceField(label="For how long", coerce=int, choices=DURATIONS,
                                      initial=60)
    touches_customer_content = forms.BooleanField(
        label="Touches customer content", required=False, initial=True,
        help_text="Untick only when the work reads no customer data (say, restarting a "
                  "service); then the provider's approval alone grants it, and the customer "
                  "sees that.")

    def __init__(self, *args, tenant=None, **kwargs):
        super().__init__(*args, **kwargs)
        if tenant is not None:
            most = tenant.max_access_duration
            self.fields["duration"].choices = [
                (minutes, label if timedelta(minutes=minutes) <= most
                 else f"{label} (more than {tenant.name} allows)")
                for minutes, label in DURATIONS]

    def request_fields(self):
        data = self.cleaned_data
        return {
            "case_reference": data["case_reference"],
            "reason_type": data["reason_type"],
            "justification": data["justification"],
            "scope": data["scope"],
            "access_level": data["access_level"],
            "requested_duration": timedelta(minutes=data["duration"]),
            "touches_customer_content": data["touches_customer_content"],
        }


# Field names of approvals.policy.clean_request's errors, as this form calls them.
REQUEST_FORM_FIELDS = {"requested_duration": "duration", "tenant": None}


class QueueFilterForm(forms.Form):
    # Typed, not picked from a list: a provider may have thousands of tenants.
    tenant = forms.CharField(label="Tenant", required=False, max_length=100,
                             widget=forms.TextInput(attrs={"placeholder": "Name or slug"}))
    reason = forms.ChoiceField(label="Reason", required=False,
                               choices=[("", "Any reason"), *ReasonType.choices])

    def clean_tenant(self):
        return self.cleaned_data["tenant"].strip()


class NoteForm(forms.Form):
    body = forms.CharField(label="Add an internal note", max_length=4000,
                           widget=forms.Textarea(attrs={"rows": 3}),
                           help_text="Seen by provider staff only, never by the customer.")


class WebhookForm(StepUpMixin, forms.Form):
    url = forms.CharField(label="Receiver URL", max_length=500,
                          widget=forms.URLInput(attrs={"placeholder": "https://…"}),
                          help_text="Lockbox POSTs signed JSON here. It must be reachable from "
                                    "the internet over http(s).")
    event_types = forms.MultipleChoiceField(label="Events", widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = [(e, f"{action_label(e)} ({e})")
                                              for e in EVENT_TYPES]
        self.fields["event_types"].initial = EVENT_TYPES


class TokenForm(StepUpMixin, forms.Form):
    name = forms.CharField(label="Name", max_length=100,
                           help_text="What uses it, e.g. “SIEM collector” or “data plane EU-1”.")
    purpose = forms.ChoiceField(label="It may", widget=forms.RadioSelect)
    days = forms.IntegerField(label="Valid for (days)", min_value=1, max_value=365, initial=90)

    def __init__(self, *args, purposes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose"].choices = list(purposes)
        if purposes:
            self.fields["purpose"].initial = purposes[0][0]
