/** Small DOM helpers the page's modules share: elements by id (failing loudly), paragraphs and tables of text. */

/** The element with this id; a missing one is a bug of the page (index.html and the code disagree), said as such. */
export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no element #${id} (index.html and the page code disagree)`);
  return e as T;
};

export function para(text: string, cls?: string): HTMLParagraphElement {
  const p = document.createElement('p');
  p.textContent = text;
  if (cls) p.className = cls;
  return p;
}

/** Empties an info box (teacher, data) and marks it so tests and styles see it is empty. */
export function resetInfo(id: string): void {
  $(id).dataset.state = 'empty';
  $(id).replaceChildren();
}

/** A small table of text cells (textContent only, so names from a user's model cannot inject markup). */
export function table(id: string, head: readonly string[], rows: readonly (readonly string[])[]): HTMLTableElement {
  const t = document.createElement('table');
  t.id = id;
  t.className = 'mini';
  const tr = document.createElement('tr');
  for (const h of head) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    tr.append(th);
  }
  const thead = document.createElement('thead');
  thead.append(tr);
  const tbody = document.createElement('tbody');
  for (const r of rows) {
    const row = document.createElement('tr');
    for (const c of r) {
      const td = document.createElement('td');
      td.textContent = c;
      row.append(td);
    }
    tbody.append(row);
  }
  t.append(thead, tbody);
  return t;
}
