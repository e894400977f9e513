-- reseller-svc invariants across vouchers and the quota ledger (SPEC §1, §3). One row per
-- violation. Run by the integration tests after every scenario and by scripts/check-invariants.

-- 1. A provider-funded voucher's net quota (consumed minus returned, from the ledger) is its face
--    value minus what it gave back; a reseller-funded voucher touches no quota.
SELECT CONCAT('voucher ', v.voucher_id, ': ledger net ', COALESCE(-l.net, 0), ', expected ',
              IF(v.funding = 1, v.face_value_minor - v.quota_returned_minor, 0)) AS violation
FROM vouchers v
LEFT JOIN (SELECT reseller_id, reference_id, SUM(amount_minor) AS net FROM ledger_entries
           WHERE account = 1 AND reference_type = 1 GROUP BY reseller_id, reference_id) l
       ON l.reseller_id = v.reseller_id AND l.reference_id = v.voucher_id
WHERE COALESCE(-l.net, 0) <> IF(v.funding = 1, v.face_value_minor - v.quota_returned_minor, 0);

-- 2. What went back matches the status: all of it for rejected/cancelled/withdrawn, nothing while
--    the voucher is pending, cancelling or active, at most the face value when expired.
SELECT CONCAT('voucher ', voucher_id, ' status ', status, ' returned ', quota_returned_minor)
       AS violation
FROM vouchers
WHERE funding = 1 AND (
      (status IN (3, 4, 6) AND quota_returned_minor <> face_value_minor)
   OR (status IN (1, 2, 5) AND quota_returned_minor <> 0)
   OR (status = 7 AND quota_returned_minor <> balance_minor));

-- 3. Balances of vouchers stay within [0, face value].
SELECT CONCAT('voucher ', voucher_id, ' balance ', balance_minor) AS violation
FROM vouchers WHERE balance_minor < 0 OR balance_minor > face_value_minor;

-- 4. A voucher's balance is its face value minus its deductions (voucher_deductions is the
--    voucher's ledger: wallet payments and bill settlements).
SELECT CONCAT('voucher ', v.voucher_id, ': balance ', v.balance_minor, ', face ',
              v.face_value_minor, ' - deductions ', COALESCE(d.s, 0)) AS violation
FROM vouchers v
LEFT JOIN (SELECT voucher_id, SUM(amount_minor) AS s FROM voucher_deductions GROUP BY voucher_id) d
       ON d.voucher_id = v.voucher_id
WHERE v.balance_minor <> v.face_value_minor - COALESCE(d.s, 0);

-- 5. Every deduction moves its voucher's balance by exactly its amount, never below zero.
SELECT CONCAT('deduction ', deduction_id, ': ', balance_before_minor, ' - ', amount_minor, ' != ',
              balance_after_minor) AS violation
FROM voucher_deductions
WHERE balance_before_minor - amount_minor <> balance_after_minor OR balance_after_minor < 0;
