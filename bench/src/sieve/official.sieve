# Bộ lọc thư của một chuyên viên Sở Nội vụ tỉnh Vĩnh Phúc: 20 quy tắc.
require ["fileinto", "mailbox", "imap4flags", "envelope", "body", "vacation", "date",
         "relational"];

# 1. Công văn của Văn phòng UBND tỉnh.
if address :is "from" "vanphong@vinhphuc.gov.vn" {
    fileinto :create :flags "$CongVan" "Công văn đến";
    stop;
}
# 2. Văn bản của lãnh đạo Sở: đánh dấu quan trọng.
if address :is ["from", "cc"] ["giamdoc.snv@vinhphuc.gov.vn", "phogiamdoc.snv@vinhphuc.gov.vn"] {
    addflag "\\Flagged";
    fileinto :create "Lãnh đạo Sở";
    stop;
}
# 3. Giấy mời họp.
if header :contains "subject" ["Giấy mời", "Thư mời họp"] {
    fileinto :create "Lịch họp";
    stop;
}
# 4. Lịch công tác tuần của cơ quan.
if header :contains "subject" "Lịch công tác tuần" {
    fileinto :create :flags "\\Seen" "Lịch công tác";
    stop;
}
# 5. Báo cáo định kỳ.
if header :contains "subject" ["Báo cáo tuần", "Báo cáo tháng", "Báo cáo quý"] {
    fileinto :create "Báo cáo định kỳ";
    stop;
}
# 6. Văn bản của Chính phủ và các Bộ.
if address :domain :is "from" ["chinhphu.vn", "moha.gov.vn", "mof.gov.vn"] {
    fileinto :create "Văn bản Trung ương";
    stop;
}
# 7. Thư gửi toàn thể cán bộ.
if address :is ["to", "cc"] "toanthe@vinhphuc.gov.vn" {
    fileinto :create "Thông báo chung";
    stop;
}
# 8. Thư của Công đoàn cơ sở.
if header :contains "list-id" "congdoan.snv.vinhphuc.gov.vn" {
    fileinto :create "Công đoàn";
    stop;
}
# 9. Hồ sơ từ Cổng dịch vụ công.
if envelope :is "from" "noreply@dichvucong.vinhphuc.gov.vn" {
    fileinto :create "Dịch vụ công";
    stop;
}
# 10. Bảo hiểm xã hội.
if envelope :domain :is "from" "baohiemxahoi.gov.vn" {
    fileinto :create "Bảo hiểm xã hội";
    stop;
}
# 11. Thư khẩn, hỏa tốc: đánh dấu quan trọng rồi xét tiếp.
if header :contains "subject" ["Hỏa tốc", "Thượng khẩn", "KHẨN"] {
    addflag "\\Flagged";
}
# 12. Thư hệ thống đánh dấu ưu tiên cao.
if header :is "x-priority" ["1", "1 (Highest)"] {
    addflag "\\Flagged";
}
# 13. Thanh tra tỉnh.
if address :domain :is "from" "thanhtra.vinhphuc.gov.vn" {
    fileinto :create "Thanh tra";
    stop;
}
# 14. Đề nghị báo cáo có hạn: gắn nhãn để theo dõi.
if body :contains ["Đề nghị báo cáo trước ngày", "đề nghị gửi báo cáo về Sở"] {
    addflag "$CanTraLoi";
}
# 15. Thư lừa đảo hỏi mật khẩu.
if body :contains ["xác minh mật khẩu", "tài khoản của bạn sẽ bị khóa"] {
    fileinto :create "Junk";
    stop;
}
# 16. Bộ lọc thư rác đã gắn cờ.
if header :is "x-spam-flag" "YES" {
    fileinto :create "Junk";
    stop;
}
# 17. Quảng cáo.
if header :contains "subject" ["Khuyến mại", "Quảng cáo", "Trúng thưởng"] {
    fileinto :create "Junk";
    stop;
}
# 18. Hội thảo, tập huấn.
if header :contains "subject" ["Hội thảo", "Tập huấn", "Bồi dưỡng"] {
    fileinto :create "Hội thảo - Tập huấn";
    stop;
}
# 19. Trả lời tự động trong kỳ nghỉ Tết Ất Tỵ (đã qua).
if allof (currentdate :zone "+0700" :value "ge" "date" "2025-01-25",
          currentdate :zone "+0700" :value "le" "date" "2025-02-02") {
    vacation :days 1 :subject "Nghỉ Tết Nguyên đán" "Tôi nghỉ Tết đến hết ngày 02/02/2025; việc gấp xin liên hệ Văn phòng Sở.";
}
# 20. Thư từ ngoài cơ quan nhà nước.
if not address :domain :matches "from" ["*.gov.vn", "chinhphu.vn"] {
    fileinto :create "Thư bên ngoài";
}
