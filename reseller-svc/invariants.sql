-- reseller-svc invariants across vouchers and the quota ledger (SPEC §1, §3). One row per
-- violation. Run by the integration tests after every scenario and by scripts/check-invariants.

-- 1. A provider-funded voucher's net quota (consumed minus returned, from the ledger) is its face
--    value minus what it gave back; a redeemed one (source 2) consumed nothing itself (its batch
--    did), so its net is minus what it gave back; a reseller-funded voucher touches no quota.
SELECT CONCAT('voucher ', v.voucher_id, ': ledger net ', COALESCE(-l.net, 0), ', expected ',
              IF(v.funding = 1, IF(v.source = 2, 0, v.face_value_minor) - v.quota_returned_minor,
                 0)) AS violation
FROM vouchers v
LEFT JOIN (SELECT reseller_id, reference_id, SUM(amount_minor) AS net FROM ledger_entries
           WHERE account = 1 AND reference_type = 1 GROUP BY reseller_id, reference_id) l
       ON l.reseller_id = v.reseller_id AND l.reference_id = v.voucher_id
WHERE COALESCE(-l.net, 0) <>
      IF(v.funding = 1, IF(v.source = 2, 0, v.face_value_minor) - v.quota_returned_minor, 0);

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

-- 6. A redemption-code batch's net quota (from the ledger, reference type 2) is what it consumed
--    minus what it gave back; consumed is count x face value for a provider-funded batch and 0
--    for a reseller-funded one.
SELECT CONCAT('batch ', b.batch_id, ': ledger net ', COALESCE(-l.net, 0), ', consumed ',
              b.quota_consumed_minor, ' - returned ', b.quota_returned_minor) AS violation
FROM redeem_batches b
LEFT JOIN (SELECT reseller_id, reference_id, SUM(amount_minor) AS net FROM ledger_entries
           WHERE account = 1 AND reference_type = 2 GROUP BY reseller_id, reference_id) l
       ON l.reseller_id = b.reseller_id AND l.reference_id = b.batch_id
WHERE COALESCE(-l.net, 0) <> b.quota_consumed_minor - b.quota_returned_minor
   OR b.quota_consumed_minor <> IF(b.funding = 1, b.code_count * b.face_value_minor, 0);

-- 7. What a batch gave back matches its state (1 pending review, 2 active, 3 rejected,
--    4 expired): nothing while pending or active, everything when rejected, the unredeemed
--    codes' face value when expired.
SELECT CONCAT('batch ', batch_id, ' state ', state, ' returned ', quota_returned_minor)
       AS violation
FROM redeem_batches
WHERE funding = 1 AND (
      (state IN (1, 2) AND quota_returned_minor <> 0)
   OR (state = 3 AND quota_returned_minor <> quota_consumed_minor)
   OR (state = 4 AND quota_returned_minor <> (code_count - redeemed_count) * face_value_minor));

-- 8. redeemed_count is the number of the batch's codes that became a voucher, each of them a
--    voucher of that batch; the batch holds code_count codes; only an active or expired batch
--    has redeemed codes.
SELECT CONCAT('batch ', b.batch_id, ': redeemed_count ', b.redeemed_count, ', codes ',
              COALESCE(c.n, 0), ' (', COALESCE(c.used, 0), ' redeemed), vouchers ',
              COALESCE(v.n, 0)) AS violation
FROM redeem_batches b
LEFT JOIN (SELECT batch_id, COUNT(*) AS n, COUNT(voucher_id) AS used FROM redeem_codes
           GROUP BY batch_id) c ON c.batch_id = b.batch_id
LEFT JOIN (SELECT redeem_batch_id, COUNT(*) AS n FROM vouchers WHERE source = 2
           GROUP BY redeem_batch_id) v ON v.redeem_batch_id = b.batch_id
WHERE b.redeemed_count <> COALESCE(c.used, 0) OR b.redeemed_count <> COALESCE(v.n, 0)
   OR b.code_count <> COALESCE(c.n, 0) OR (b.state IN (1, 3) AND b.redeemed_count <> 0);

-- 9. A redeemed code points at a voucher of its batch owned by the customer who redeemed it.
SELECT CONCAT('code of batch ', c.batch_id, ': voucher ', c.voucher_id, ' customer ',
              COALESCE(c.customer_id, 'NULL')) AS violation
FROM redeem_codes c
LEFT JOIN vouchers v ON v.voucher_id = c.voucher_id
WHERE c.voucher_id IS NOT NULL AND (v.voucher_id IS NULL OR v.redeem_batch_id <> c.batch_id
      OR v.customer_id <> c.customer_id OR v.source <> 2);
