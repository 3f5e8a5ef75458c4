-- Inventory adds the units of cancelled orders back (consumer/stage_inventory.ts). When a new stock
-- count arrives it recounts the cancellations after it per product, as it recounts purchases
-- through events_purchase_product; cancellations are few, so this index is small.
create index events_cancelled_product on events (product_id, event_time)
  where event_type = 'order_cancelled';
