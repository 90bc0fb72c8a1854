from typing import TYPE_CHECKING, Any

from django import forms

from lockbox_portal.security.mfa import normalise_code

CODE_HELP = "Six digits from your authenticator app, or one of your backup codes."


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code", max_length=32, help_text=CODE_HELP,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text",
                                      "autofocus": True, "spellcheck": "false"}),
    )

    def clean_code(self) -> str:
        return normalise_code(self.cleaned_data["code"])


if TYPE_CHECKING:
    _Form = forms.Form  # what the mixin is mixed into, so its use of self.fields is checked
else:
    _Form = object


class StepUpMixin(_Form):
    """Adds the step-up code field to a form when the action has no fresh check.

    Views pass `needs_code`; the code itself is checked by security.stepup.confirm, bound to the
    action, after the rest of the form is valid.
    """

    def __init__(self, *args: Any, needs_code: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.needs_code = needs_code
        if needs_code:
            self.fields["code"] = forms.CharField(
                label="Confirm with your second factor", max_length=32, required=False,
                help_text=CODE_HELP,
                widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                              "spellcheck": "false"}),
            )
