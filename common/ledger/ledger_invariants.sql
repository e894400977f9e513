-- Ledger invariants (common/ledger/vc_ledger.h). Every query returns one row per violation
-- (a description); a clean ledger returns no rows from any of them. Run by vc_ledger_check()
-- (embedded at build time), by the tests after every scenario, and by scripts/check-invariants
-- against a live database.

-- 1. An account's balance equals the sum of its entries and its running totals, and is >= 0.
SELECT CONCAT('account ', a.reseller_id, '/', a.account, '/', a.owner_id, ': balance ',
              a.balance_minor, ', entries sum ', COALESCE(e.s, 0), ', totals ',
              a.granted_minor - a.debited_minor + a.returned_minor) AS violation
FROM ledger_accounts a
LEFT JOIN (SELECT reseller_id, account, owner_id, SUM(amount_minor) AS s
           FROM ledger_entries GROUP BY reseller_id, account, owner_id) e
       ON e.reseller_id = a.reseller_id AND e.account = a.account AND e.owner_id = a.owner_id
WHERE a.balance_minor <> COALESCE(e.s, 0)
   OR a.balance_minor < 0
   OR a.balance_minor <> a.granted_minor - a.debited_minor + a.returned_minor;

-- 2. No entry without its account.
SELECT CONCAT('orphan entry ', e.entry_id) AS violation
FROM ledger_entries e
LEFT JOIN ledger_accounts a
       ON e.reseller_id = a.reseller_id AND e.account = a.account AND e.owner_id = a.owner_id
WHERE a.reseller_id IS NULL;

-- 3. Every entry moves its balance by exactly its amount and never below zero.
SELECT CONCAT('entry ', entry_id, ': ', balance_before_minor, ' + ', amount_minor, ' != ',
              balance_after_minor) AS violation
FROM ledger_entries
WHERE balance_before_minor + amount_minor <> balance_after_minor
   OR balance_after_minor < 0 OR balance_before_minor < 0 OR amount_minor = 0;

-- 4. Per account, entries chain: each entry starts where the previous one ended.
SELECT CONCAT('entry ', e.entry_id, ' starts at ', e.balance_before_minor,
              ' but the previous entry ended at ', p.balance_after_minor) AS violation
FROM ledger_entries e
JOIN ledger_entries p ON p.entry_id = (
        SELECT MAX(q.entry_id) FROM ledger_entries q
        WHERE q.reseller_id = e.reseller_id AND q.account = e.account
          AND q.owner_id = e.owner_id AND q.entry_id < e.entry_id)
WHERE e.balance_before_minor <> p.balance_after_minor;
