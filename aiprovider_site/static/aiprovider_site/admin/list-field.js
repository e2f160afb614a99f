// Multi-value admin fields (aiprovider_site/admin_widgets.py): "+ add another" appends an empty input.
"use strict";
document.addEventListener("click", function (event) {
  const button = event.target.closest(".list-field-add");
  if (!button) {
    return;
  }
  const field = button.closest(".list-field");
  const list = field.querySelector("ul");
  const template = list.querySelector("li:last-child");
  const item = template.cloneNode(true);
  const input = item.querySelector("input");
  input.value = "";
  list.appendChild(item);
  input.focus();
});
